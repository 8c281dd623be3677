"""Base URL safety: the client only ever talks to Mimecast's own API hosts.

A base URL is accepted when it is ``https://<host>`` (optionally with port 443 and a single "/")
and ``<host>`` is exactly one of Mimecast's documented API hosts. Anything else is refused
unless its host and port are listed in ``allowed_hosts`` (used for the simulator): each entry is
``host:port``, and a bare ``host`` means port 443, so allowing a host never opens its other services
(a database or Redis on the same machine). Plain http is only allowed for loopback hosts in that list.
The checks are deliberately strict and work on the raw text, so parser differences (userinfo,
backslashes, IDN, trailing dots, odd IP spellings) cannot smuggle another host past them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
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
SAFE_URL_CHARS = re.compile(r"^[A-Za-z0-9.:/\-\[\]_]*$")
DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _fail(reason: str) -> MimecastConfigError:
    return MimecastConfigError(f"The Mimecast base URL is not allowed: {reason}")


def split_host_port(netloc: str) -> tuple[str, int | None]:
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


def is_ip_literal(host: str) -> bool:
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


HTTPS_PORT = 443
_DEFAULT_PORTS = {"https": HTTPS_PORT, "http": 80}


def parse_allowed_host(entry: str) -> tuple[str, int]:
    """One MIMECAST_ALLOWED_HOSTS entry as (host, port): ``host:port``, ``[v6]:port``, or a bare host
    for port 443. Raises MimecastConfigError for anything else."""
    text = entry.strip().lower()
    refusal = MimecastConfigError(
        f"MIMECAST_ALLOWED_HOSTS entry {entry!r} must be host:port (a bare host means port 443)."
    )
    if not text or not SAFE_URL_CHARS.match(text) or "/" in text:
        raise refusal
    try:
        host, port = split_host_port(text)
    except MimecastConfigError:
        raise refusal from None
    if not host or host == "[]":
        raise refusal
    return host, HTTPS_PORT if port is None else port


def _normalise_allowed(allowed_hosts: Iterable[str]) -> set[tuple[str, int]]:
    allowed = set()
    for entry in allowed_hosts:
        try:
            allowed.add(parse_allowed_host(entry))
        except MimecastConfigError:
            continue  # a malformed entry allows nothing (MimecastConfig refuses it up front)
    return allowed


def _allowed_match(scheme: str, host: str, port: int | None, allowed: set[tuple[str, int]]) -> bool:
    effective = port if port is not None else _DEFAULT_PORTS.get(scheme)
    return (host, effective) in allowed


def has_control(text: str) -> bool:
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
    if any(ch in url for ch in "@\\%?# \t\r\n") or has_control(url):
        if "@" in url:
            raise _fail("it must not contain a user name or password ('@').")
        raise _fail("it must not contain spaces, backslashes, escapes, a query or a fragment.")
    if not SAFE_URL_CHARS.match(url):
        raise _fail("it contains characters that are not allowed in a host name.")
    parts, scheme = _split(url, _fail("it is malformed."))
    if not url.lower().startswith(f"{scheme}://") or not parts.netloc:
        raise _fail("it must look like https://<mimecast host>.")
    host, port = split_host_port(parts.netloc)
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

    if _allowed_match(scheme, host, port, allowed):
        if scheme == "http" and not is_loopback_host(host):
            raise _fail("plain http is only allowed for a loopback simulator (127.0.0.1, localhost, ::1).")
        if port == _DEFAULT_PORTS[scheme]:
            port = None
    else:
        if scheme != "https":
            raise _fail("it must use https.")
        if is_ip_literal(host):
            raise _fail("it must be a Mimecast API host name, not an IP address.")
        if host not in MIMECAST_API_HOSTS:
            raise _fail(f"'{host}' is not a Mimecast API host.")
        if port not in (None, 443):
            raise _fail("only the standard https port 443 is allowed.")
        port = None
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}"


# Where Mimecast's pre-signed download links (SIEM batch files, API 2.0 message parts) may point:
# Mimecast's own domains and Amazon S3, the storage Mimecast hands out pre-signed links for. A host
# must end with one of these domains at a label boundary, so "us-api.mimecast.com.evil.example" and
# "evilmimecast.com" do not pass.
MIMECAST_DOWNLOAD_DOMAINS = ("mimecast.com", "mimecast-pscom-us.com")
# <bucket>.s3.amazonaws.com, <bucket>.s3.<region>.amazonaws.com, <bucket>.s3-<region>.amazonaws.com,
# <bucket>.s3.dualstack.<region>.amazonaws.com and the path-style s3[.-]<region>.amazonaws.com.
_S3_HOST = re.compile(r"^(?:[a-z0-9][a-z0-9.-]*\.)?s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com$")


def is_download_host(host: str) -> bool:
    """True when ``host`` matches one of the documented Mimecast or storage host patterns."""
    host = host.lower()
    if any(host.endswith("." + domain) for domain in MIMECAST_DOWNLOAD_DOMAINS):
        return True
    return bool(_S3_HOST.match(host))


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to (the system resolver); [] when it does not resolve."""
    try:
        answers = socket.getaddrinfo(host, HTTPS_PORT, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return sorted({str(answer[4][0]).split("%", 1)[0] for answer in answers})


def is_public_address(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def validate_download_url(
    url: str, allowed_hosts: Iterable[str] = (), *, resolve: Callable[[str], Iterable[str]] | None = None
) -> str:
    """Check a file URL handed out by Mimecast (SIEM batch files, message-part links).

    These are pre-signed links on a storage host, so the host cannot be pinned to Mimecast's API
    hosts; it must match a documented Mimecast or storage pattern (``is_download_host``), on https
    port 443, and every address it resolves to must be public, so a link cannot reach the cloud
    metadata service or the internal network. An explicitly allowed host:port (the simulator) passes
    without those checks. No credentials are ever sent to these URLs. ``resolve`` (host -> addresses)
    defaults to the system resolver.
    """
    if not isinstance(url, str) or not url or not url.isascii():
        raise MimecastConfigError("Mimecast returned a download link that is not a valid URL.")
    if any(ch in url for ch in "\\ \t\r\n") or has_control(url):
        raise MimecastConfigError("Mimecast returned a download link with characters that are not allowed.")
    parts, scheme = _split(url, MimecastConfigError("Mimecast returned a download link that is not a valid URL."))
    if "@" in parts.netloc:
        raise MimecastConfigError("Mimecast returned a download link with a user name in it; refusing it.")
    try:
        host, port = split_host_port(parts.netloc)
    except MimecastConfigError:
        raise MimecastConfigError("Mimecast returned a download link with a malformed host.") from None
    allowed = _normalise_allowed(allowed_hosts)
    if _allowed_match(scheme, host, port, allowed):
        if scheme == "https" or (scheme == "http" and is_loopback_host(host)):
            return url
        raise MimecastConfigError("Mimecast returned a download link that does not use https.")
    if scheme != "https":
        raise MimecastConfigError("Mimecast returned a download link that does not use https.")
    if not host or host.endswith(".") or is_ip_literal(host) or host == "localhost":
        raise MimecastConfigError("Mimecast returned a download link to an address that is not allowed.")
    if not all(DNS_LABEL.match(label) for label in host.split(".")) or "." not in host:
        raise MimecastConfigError("Mimecast returned a download link to an address that is not allowed.")
    if port not in (None, HTTPS_PORT):
        raise MimecastConfigError("Mimecast returned a download link on a port that is not allowed.")
    if not is_download_host(host):
        raise MimecastConfigError(
            f"Mimecast returned a download link to '{host}', which is not a Mimecast or Mimecast storage host."
        )
    addresses = list((resolve or resolve_host)(host))
    if not addresses:
        raise MimecastConfigError(f"The download link's host '{host}' does not resolve; try again later.")
    if not all(is_public_address(address) for address in addresses):
        raise MimecastConfigError(
            f"The download link's host '{host}' resolves to a private or reserved address; refusing it."
        )
    return url
