"""The one set of input rules every form uses: what an email address, a domain, an IP address, a
Message-ID, a file hash, a URL, a ticket id or an opaque Mimecast token looks like; which characters
a typed value may not hold; the years a typed date may lie in; and the time window a search covers.

Each rule exists once, as a plain predicate (``is_email`` ...) for code that classifies what was
pasted, and as a form field (``EmailField`` ...) that turns a refusal into an error next to its field.
Whatever a user types is accepted or refused here, before anything reaches Mimecast or the database."""

import ipaddress
import re
import unicodedata
from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

# ----------------------------------------------------------------------------------- predicates

EMAIL_MAX = 254  # the longest address SMTP carries (RFC 5321 path limit)
DOMAIN_MAX = 253
MESSAGE_ID_MAX = 998  # the longest header line (RFC 5322)
MAX_URL_LENGTH = 4096
HASH_KINDS = {32: "md5", 40: "sha1", 64: "sha256"}
HASH_LABELS = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
# An ASCII dot-atom: no quoted local parts, no leading, trailing or doubled dots.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_MESSAGE_ID = re.compile(r"<?[^\s<>@]{1,400}@[^\s<>@]{1,250}>?")
_HEX = re.compile(r"[0-9a-fA-F]+")
_URL = re.compile(r"https?://[^\s/$.?#][^\s]*", re.IGNORECASE)
_REWRITTEN_URL = re.compile(r"https?://([^/\s:]+)(?::\d+)?(/[^\s]*)?", re.IGNORECASE)
_MIMECAST_ID = re.compile(r"eN[A-Za-z0-9_-]{20,2000}={0,2}")
_TICKET = re.compile(r"[A-Za-z0-9._#/:-]{1,64}")
# Page tokens and ids Mimecast hands out: base64 and URL-safe characters only.
_TOKEN = re.compile(r"[A-Za-z0-9_\-=+/.:~%]*")


def is_domain(value):
    return len(value) <= DOMAIN_MAX and bool(_DOMAIN.fullmatch(value))


def is_email(value):
    local, at, domain = value.rpartition("@")
    return (
        bool(at)
        and len(value) <= EMAIL_MAX
        and len(local) <= 64
        and bool(_LOCAL_PART.fullmatch(local))
        and is_domain(domain)
    )


def is_ip(value, *, cidr=False):
    """An IPv4 or IPv6 address; with ``cidr``, a network such as 192.0.2.0/24 as well."""
    try:
        ipaddress.ip_network(value, strict=False) if cidr else ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def hash_kind(value):
    """ "md5", "sha1" or "sha256" for a hex digest of that length, else None."""
    kind = HASH_KINDS.get(len(value))
    return kind if kind and _HEX.fullmatch(value) else None


def is_hex(value):
    return bool(_HEX.fullmatch(value))


def is_message_id(value):
    return len(value) <= MESSAGE_ID_MAX and bool(_MESSAGE_ID.fullmatch(value))


def is_url(value):
    """An absolute http(s) URL with a host and no whitespace."""
    return len(value) <= MAX_URL_LENGTH and bool(_URL.fullmatch(value))


def is_rewritten_url(value):
    """A Mimecast URL Protect link, e.g. https://protect-eu.mimecast.com/s/<token>."""
    match = _REWRITTEN_URL.fullmatch(value)
    if not match:
        return False
    host, path = match.group(1).lower(), match.group(2) or ""
    return (host.endswith(".mimecast.com") or host == "mimecast.com") and (
        path.startswith("/s/") or "url=" in path or host.startswith("protect")
    )


def is_mimecast_id(value):
    return bool(_MIMECAST_ID.fullmatch(value))


def is_ticket(value):
    return bool(_TICKET.fullmatch(value))


def is_token(value):
    return bool(_TOKEN.fullmatch(value))


# The kinds of value an analyst pivots on or files as evidence (the values of Evidence.Kind), each with its
# rule and whether its normal form is lower case: addresses, domains and hex digests mean the same in any
# case; URLs, Message-IDs and Mimecast ids may not.
_INDICATORS = {
    "message": (lambda value: is_mimecast_id(value) or is_message_id(value), False),
    "sender": (is_email, True),
    "recipient": (is_email, True),
    "domain": (is_domain, True),
    "url": (is_url, False),
    "hash": (hash_kind, True),
    "ip": (is_ip, False),
}


def indicator_value(kind, value):
    """``value`` in its normal form when it is a valid value of ``kind``, else None (an unknown kind too)."""
    accepts, lowercase = _INDICATORS.get(kind, (None, False))
    if accepts is None or not accepts(value):
        return None
    return value.lower() if lowercase else value


# Control (Cc), format (Cf: bidi overrides such as U+202E, zero-width characters), surrogate and
# private-use characters: invisible or misleading on screen and in the audit trail.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_LINE_BREAKS = frozenset("\t\n\r")
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(value, *, multiline=False):
    """Whether ``value`` holds a control or invisible character; ``multiline`` allows tabs and line breaks."""
    if value.isascii():  # the common case, without a lookup per character
        return bool((_ASCII_CONTROL_MULTILINE if multiline else _ASCII_CONTROL).search(value))
    allowed = _LINE_BREAKS if multiline else ()
    return any(unicodedata.category(ch) in _REFUSED_CATEGORIES and ch not in allowed for ch in value)


# ------------------------------------------------------------------------------------ form fields


class TextField(forms.CharField):
    """Free text: trimmed, bounded, free of control and invisible characters; one line unless
    ``multiline``. ``what`` names the field in its error ("The subject ...")."""

    def __init__(self, *, what="This field", multiline=False, max_length=320, required=False, **kwargs):
        self.what, self.multiline = what, multiline
        super().__init__(max_length=max_length, required=required, **kwargs)
        # A validator rather than a check in clean(): its error joins the length and null-byte ones.
        self.validators.append(self._refuse_control)

    def _refuse_control(self, value):
        if value and has_control_characters(value, multiline=self.multiline):
            raise ValidationError(
                f"{self.what} contains control characters or invisible marks (such as escapes or a "
                "text-direction override); type it again.",
                code="control",
            )


REASON_MIN = 10
REASON_MAX = 500


class ReasonField(TextField):
    """Why a user acts, as the audit trail (and often Mimecast) records it: one line, runs of white space
    folded to one space, at least ``shortest`` characters once folded; required unless told otherwise."""

    def __init__(self, *, what="The reason", shortest=REASON_MIN, max_length=REASON_MAX, required=True, **kwargs):
        self.shortest = shortest
        super().__init__(what=what, max_length=max_length, required=required, **kwargs)

    def clean(self, value):
        value = " ".join(super().clean(value).split())
        if value and len(value) < self.shortest:
            raise ValidationError(f"{self.what} must be at least {self.shortest} characters long.", code="short")
        return value


class _FormatField(TextField):
    """A TextField whose non-empty value must pass ``accepts``; ``lowercase`` folds it afterwards."""

    message = "Enter a valid value."
    lowercase = False
    longest = 320  # the rule's own bound, unless the form gives a max_length

    def __init__(self, *, max_length=None, **kwargs):
        super().__init__(max_length=max_length or self.longest, **kwargs)

    @staticmethod
    def accepts(value):
        return True

    def clean(self, value):
        value = super().clean(value)
        if value and not self.accepts(value):
            raise ValidationError(self.message, code="invalid")
        return value.lower() if self.lowercase else value


def _format_field(name, accepts, message, *, longest, lowercase=False, doc=None):
    """A field class for one rule: a TextField whose non-empty value ``accepts`` must pass."""
    attrs = {"accepts": staticmethod(accepts), "message": message, "longest": longest, "lowercase": lowercase}
    attrs["__doc__"] = doc
    return type(name, (_FormatField,), {**attrs, "__module__": __name__})


EmailField = _format_field(
    "EmailField", is_email, "Give an email address (name@example.com).", longest=EMAIL_MAX, lowercase=True
)
EmailOrDomainField = _format_field(
    "EmailOrDomainField",
    lambda value: is_email(value) or is_domain(value),
    "Give an email address (name@example.com) or a domain (example.com).",
    longest=EMAIL_MAX,
    lowercase=True,
)
IPField = _format_field("IPField", is_ip, "Type an IPv4 or IPv6 address, e.g. 192.0.2.10.", longest=45)
MessageIdField = _format_field(
    "MessageIdField", is_message_id, "A Message-ID looks like <id@host>, with no spaces.", longest=MESSAGE_ID_MAX
)
TicketField = _format_field(
    "TicketField", is_ticket, "A ticket id has letters, digits and . _ # / : - only.", longest=64
)
TokenField = _format_field(
    "TokenField",
    is_token,
    "This page link is damaged; start the search again.",
    longest=4096,
    doc="A page token or an id Mimecast handed out, carried back in a link.",
)


class PageTokenField(TokenField):
    def __init__(self, **kwargs):
        super().__init__(widget=forms.HiddenInput, **kwargs)


# ------------------------------------------------------------------------------------ time windows

WINDOW_PRESETS = {
    "10m": ("Last 10 minutes", timedelta(minutes=10)),
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
# Calendar days in the viewer's time zone, for the mailbox view.
CALENDAR_PRESETS = {"today": "Today", "yesterday": "Yesterday"}
# A little tolerance for clocks and for the minute-precise date picker: "now" in the browser may be
# slightly ahead of the server, and a start picked "30 days ago" is up to a minute older than that.
CLOCK_SKEW = timedelta(minutes=5)
# The date picker's format first; dates typed by hand in ISO order only (never the ambiguous 01/02/2026).
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


def window_choices(names, *, custom=True):
    labels = {**{key: label for key, (label, _) in WINDOW_PRESETS.items()}, **CALENDAR_PRESETS}
    return [(name, labels[name]) for name in names] + ([("custom", "Custom dates")] if custom else [])


def preset_range(name, now):
    """(start, end) of a preset window ending ``now`` (an aware datetime; its time zone decides
    where a calendar day starts)."""
    if name in CALENDAR_PRESETS:
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return (midnight, now) if name == "today" else (midnight - timedelta(days=1), midnight)
    return now - WINDOW_PRESETS[name][1], now


# The one range every date a user types must lie in, whatever the form. Nothing the portal handles
# (mail, audit events, remediation windows) is older than 2000 or later than 2100, and a year such
# as 0001 or 9999 overflows once moved to UTC or shifted by a day (a 500 on the page, or a row no
# page can read back): refused next to its field instead.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
DATE_RANGE_MESSAGE = f"Give a date between the years {EARLIEST_YEAR} and {LATEST_YEAR}."


def is_sane_date(value):
    """Whether a date or datetime (in the zone it was typed in) lies in EARLIEST_YEAR..LATEST_YEAR."""
    return EARLIEST_YEAR <= value.year <= LATEST_YEAR


def validate_sane_date(value):
    if value is not None and not is_sane_date(value):
        raise ValidationError(DATE_RANGE_MESSAGE, code="out_of_range")


def datetime_field(label, *, widget=None, validators=(), **kwargs):
    """An optional date and time, typed in the viewer's time zone, within the sane range."""
    widget = widget or forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=widget,
        input_formats=DATETIME_FORMATS,
        validators=[validate_sane_date, *validators],
        **kwargs,
    )


def date_field(label, **kwargs):
    """An optional calendar day (ISO order), within the sane range."""
    widget = forms.DateInput(attrs={"type": "date"})
    return forms.DateField(
        label=label,
        required=False,
        widget=widget,
        input_formats=["%Y-%m-%d"],
        validators=[validate_sane_date],
        **kwargs,
    )


def window_error(start, end, *, now=None, max_span=None, max_back=None):
    """The first rule a custom window breaks, as (field, message), or None. Without ``now`` only the
    order is checked: such a window may lie in the future."""
    if start is None:
        return "start", "Give the start of the window, or choose a preset."
    if end <= start:
        return "end", "The end must be after the start."
    if max_span and end - start > max_span + CLOCK_SKEW:
        return "start", f"The window can be at most {max_span.days} days."
    if now is None:
        return None
    if max_back and start < now - max_back - CLOCK_SKEW:
        return "start", f"The start can be at most {max_back.days} days ago."
    if start > now + CLOCK_SKEW:
        return "start", "The start is in the future."
    if end > now + CLOCK_SKEW:
        return "end", "The end of the window is in the future."
    return None


class TimeWindowForm(forms.Form):
    """A time window: one of ``presets``, or custom dates ("From", "To": the end defaults to now)
    at most ``max_span`` long and starting at most ``max_back`` ago. Dates without a window choice
    mean custom dates; no choice at all means ``default_window``."""

    presets = ("1h", "24h", "7d", "30d")
    default_window = "24h"
    max_span = timedelta(days=30)
    max_back = timedelta(days=366)

    window = forms.ChoiceField(required=False, label="Time window")
    start = datetime_field("From")
    end = datetime_field("To")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["window"].choices = window_choices(self.presets)
        self.fields["window"].initial = self.default_window

    def resolve_window(self, cleaned):
        """(window, start, end) the search covers, window being a preset's name or "custom"; None
        when the dates are wrong (the error is then on their field)."""
        name, start, end = cleaned.get("window") or "", cleaned.get("start"), cleaned.get("end")
        if name != "custom" and (name or not (start or end)):
            name = name or self.default_window
            return (name, *preset_range(name, timezone.now()))
        if "start" in self.errors or "end" in self.errors:
            return None
        now = timezone.now()
        end = end or now
        problem = window_error(start, end, now=now, max_span=self.max_span, max_back=self.max_back)
        if problem:
            self.add_error(*problem)
            return None
        return "custom", start, end
