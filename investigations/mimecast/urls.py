"""Base URL safety: the client only ever talks to Mimecast's own API hosts.

A base URL is accepted when it is ``https://<host>`` (optionally with port 443 and a single "/")
and ``<host>`` is exactly one of Mimecast's documented API hosts. Anything else is refused
unless the host, or host:port, is listed in ``allowed_hosts`` (used for the simulator); plain http is
only allowed for loopback hosts in that list. The checks are deliberately strict and work on the raw
text, so parser differences (userinfo, backslashes, IDN, trailing dots, odd IP spellings) cannot smuggle
another host past them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from investigations.mimecast.errors import MimecastConfigError

# API 1.0 regional hosts.
API1_REGION_HOSTS = {
    "global": "api.mimecast.com",
    "eu": "eu-api.mimecast.com",
    "de": "de-api.mimecast.com",
    "us": "us-api.mimecast.com",
    "usb": "usb-api.mimecast.com",
    "uspcom": "uspcom-api.mimecast-pscom-us.com",
    "ca": "ca-api.mimecast.com",
    "za": "za-api.mimecast.com",
    "au": "au-api.mimecast.com",
    "je": "je-api.mimecast.com",
    "jer": "jer-api.mimecast.com",
    "sandbox": "sandbox-api.mimecast.com",
}
# API 2.0 gateways.
API2_HOSTS = {
    "global": "api.services.mimecast.com",
    "us": "us-api.services.mimecast.com",
    "uk": "uk-api.services.mimecast.com",
}
MIMECAST_API_HOSTS = frozenset(API1_REGION_HOSTS.values()) | frozenset(API2_HOSTS.values())

DISCOVERY_BASE_URL = "https://api.mimecast.com"
API2_DEFAULT_BASE_URL = "https://api.services.mimecast.com"

# Letters, digits, dots, hyphens, and for IPv6 literals brackets and colons. Everything else
# (whitespace, backslashes, percent escapes, non-ASCII look-alikes) is refused up front.
_SAFE_URL_CHARS = re.compile(r"^[A-Za-z0-9.:/\-\[\]_]*$")
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _fail(reason: str) -> MimecastConfigError:
    return MimecastConfigError(f"The Mimecast base URL is not allowed: {reason}")


def _split_host_port(netloc: str) -> tuple[str, int | None]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end == -1:
            raise _fail("the host is malformed.")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _fail("the host is malformed.")
        port_text = rest[1:] if rest else None
    elif netloc.count(":") > 1:
        raise _fail("the host is malformed.")
    elif ":" in netloc:
        host, port_text = netloc.split(":", 1)
    else:
        host, port_text = netloc, None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _fail("the port is not valid.")
        port = int(port_text)
    return host.lower(), port


def _is_ip_literal(host: str) -> bool:
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        # Shorthand and numeric spellings such as 2130706433, 0x7f000001 or 127.1 resolve to
        # addresses in most resolvers; treat anything made only of digits, dots and hex as an IP.
        return bool(re.fullmatch(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+))*", candidate))
    return True


def is_loopback_host(host: str) -> bool:
    host = host.lower()
    if host == "localhost":
        return True
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(candidate).is_loopback
    except ValueError:
        return False


def _normalise_allowed(allowed_hosts: Iterable[str]) -> set[str]:
    return {entry.strip().lower() for entry in allowed_hosts if entry and entry.strip()}


def _allowed_match(host: str, port: int | None, allowed: set[str]) -> bool:
    if host in allowed:
        return True
    return port is not None and f"{host}:{port}" in allowed


def _has_control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def _split(url: str, refusal: MimecastConfigError):
    """The parts of ``url`` and its scheme in lower case; ``refusal`` when urlsplit cannot read it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise refusal from None
    return parts, parts.scheme.lower()


def _parse(url: object) -> tuple[str, str, int | None, str, str]:
    if not isinstance(url, str) or not url:
        raise _fail("it is empty.")
    if not url.isascii():
        raise _fail("it contains non-ASCII characters (possible look-alike host name).")
    if any(ch in url for ch in "@\\%?# \t\r\n") or _has_control(url):
        if "@" in url:
            raise _fail("it must not contain a user name or password ('@').")
        raise _fail("it must not contain spaces, backslashes, escapes, a query or a fragment.")
    if not _SAFE_URL_CHARS.match(url):
        raise _fail("it contains characters that are not allowed in a host name.")
    parts, scheme = _split(url, _fail("it is malformed."))
    if not url.lower().startswith(f"{scheme}://") or not parts.netloc:
        raise _fail("it must look like https://<mimecast host>.")
    host, port = _split_host_port(parts.netloc)
    return scheme, host, port, parts.path, parts.netloc


def validate_base_url(url: str, allowed_hosts: Iterable[str] = ()) -> str:
    """Return the normalised base URL (``scheme://host[:port]``) or raise MimecastConfigError."""
    scheme, host, port, path, _netloc = _parse(url)
    allowed = _normalise_allowed(allowed_hosts)
    if scheme not in ("https", "http"):
        raise _fail("it must use https.")
    if path not in ("", "/"):
        raise _fail("it must not contain a path; give only https://<mimecast host>.")
    if not host:
        raise _fail("the host is missing.")
    if host.endswith("."):
        raise _fail("the host must not end with a dot.")

    if _allowed_match(host, port, allowed):
        if scheme == "http" and not is_loopback_host(host):
            raise _fail("plain http is only allowed for a loopback simulator (127.0.0.1, localhost, ::1).")
    else:
        if scheme != "https":
            raise _fail("it must use https.")
        if _is_ip_literal(host):
            raise _fail("it must be a Mimecast API host name, not an IP address.")
        if host not in MIMECAST_API_HOSTS:
            raise _fail(f"'{host}' is not a Mimecast API host.")
        if port not in (None, 443):
            raise _fail("only the standard https port 443 is allowed.")
        port = None
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def validate_download_url(url: str, allowed_hosts: Iterable[str] = ()) -> str:
    """Check a file URL handed out by Mimecast (SIEM batch files, message-part links).

    These are pre-signed links on a storage host, so the host cannot be pinned to Mimecast's list;
    we still insist on https to a DNS name (no IP literals, no userinfo, no odd ports) unless the
    host is explicitly allowed (the simulator). No credentials are ever sent to these URLs.
    """
    if not isinstance(url, str) or not url or not url.isascii():
        raise MimecastConfigError("Mimecast returned a download link that is not a valid URL.")
    if any(ch in url for ch in "\\ \t\r\n") or _has_control(url):
        raise MimecastConfigError("Mimecast returned a download link with characters that are not allowed.")
    parts, scheme = _split(url, MimecastConfigError("Mimecast returned a download link that is not a valid URL."))
    if "@" in parts.netloc:
        raise MimecastConfigError("Mimecast returned a download link with a user name in it; refusing it.")
    try:
        host, port = _split_host_port(parts.netloc)
    except MimecastConfigError:
        raise MimecastConfigError("Mimecast returned a download link with a malformed host.") from None
    allowed = _normalise_allowed(allowed_hosts)
    if _allowed_match(host, port, allowed):
        if scheme == "https" or (scheme == "http" and is_loopback_host(host)):
            return url
        raise MimecastConfigError("Mimecast returned a download link that does not use https.")
    if scheme != "https":
        raise MimecastConfigError("Mimecast returned a download link that does not use https.")
    if not host or host.endswith(".") or _is_ip_literal(host) or host == "localhost":
        raise MimecastConfigError("Mimecast returned a download link to an address that is not allowed.")
    if not all(_DNS_LABEL.match(label) for label in host.split(".")) or "." not in host:
        raise MimecastConfigError("Mimecast returned a download link to an address that is not allowed.")
    if port not in (None, 443):
        raise MimecastConfigError("Mimecast returned a download link on a port that is not allowed.")
    return url
