"""The investigation workspace's forms: quick search, track & trace, archive search, mailbox view, and
the reason asked before a body view or a download.

Every field is bounded and checked here, so whatever a user types becomes a field error next to the
field and never reaches Mimecast (or a 500)."""

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.utils import timezone

from investigations.mimecast.archive_query import DATE_SELECTS

MAX_WINDOW = timedelta(days=30)
# A little tolerance for clocks: "now" in the browser may be slightly ahead of the server.
CLOCK_SKEW = timedelta(minutes=5)

WINDOW_PRESETS = {
    "10m": ("Last 10 minutes", timedelta(minutes=10)),
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
WINDOW_CHOICES = [(key, label) for key, (label, _) in WINDOW_PRESETS.items()] + [("custom", "Custom dates")]

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}$"
)
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_MESSAGE_ID = re.compile(r"^<?[^\s<>@]{1,400}@[^\s<>@]{1,250}>?$")
_HASH = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
_TICKET = re.compile(r"^[A-Za-z0-9._#/:-]{1,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-=.:+/]{1,1000}$")
_MIMECAST_ID = re.compile(r"^eN[A-Za-z0-9_-]{20,2000}={0,2}$")
REASON_MIN = 10
REASON_MAX = 500


def has_control_characters(value):
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in value)


def _no_control(value, what="This field"):
    if has_control_characters(value):
        raise forms.ValidationError(f"{what} contains control or invisible characters; type it again.")
    return value


def is_email(value):
    return len(value) <= 254 and bool(_EMAIL.match(value))


def is_domain(value):
    return len(value) <= 253 and bool(_DOMAIN.match(value))


def is_ip(value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_hash(value):
    return bool(_HASH.match(value))


def is_message_id(value):
    return len(value) <= 998 and bool(_MESSAGE_ID.match(value))


def is_mimecast_id(value):
    return bool(_MIMECAST_ID.match(value))


def is_url(value):
    return bool(re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.I)) and len(value) <= 2000


def is_rewritten_url(value):
    """A Mimecast URL Protect link, e.g. https://protect-eu.mimecast.com/s/<token>."""
    match = re.match(r"^https?://([^/\s:]+)(?::\d+)?(/[^\s]*)?$", value, re.I)
    if not match:
        return False
    host, path = match.group(1).lower(), match.group(2) or ""
    return (host.endswith(".mimecast.com") or host == "mimecast.com") and (
        path.startswith("/s/") or "url=" in path or host.startswith("protect")
    )


@dataclass(frozen=True)
class QuickTarget:
    """What the quick-search box recognised: a kind ("email", "domain", ...) and the cleaned value."""

    kind: str
    value: str


def classify_quick_search(text):
    """Recognise what an analyst pasted. Order matters: a rewritten URL is also a URL, a bracketed
    Message-ID also contains "@"."""
    value = (text or "").strip()
    if not value:
        return None
    if is_mimecast_id(value):
        return QuickTarget("mimecast_id", value)
    if is_hash(value):
        kind = {32: "md5", 40: "sha1", 64: "sha256"}[len(value)]
        return QuickTarget(kind, value.lower())
    if is_rewritten_url(value):
        return QuickTarget("rewritten_url", value)
    if is_url(value):
        return QuickTarget("url", value)
    if value.startswith("<") and value.endswith(">") and is_message_id(value):
        return QuickTarget("message_id", value)
    if is_email(value):
        return QuickTarget("email", value.lower())
    if is_ip(value):
        return QuickTarget("ip", value)
    if is_domain(value):
        return QuickTarget("domain", value.lower())
    if is_message_id(value):
        return QuickTarget("message_id", value)
    return QuickTarget("text", value)


class BoundedCharField(forms.CharField):
    """A CharField that refuses control characters (null bytes are refused by Django already)."""

    def __init__(self, *args, what="This field", **kwargs):
        self.what = what
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value:
            _no_control(value, self.what)
        return value


class ReasonFields(forms.Form):
    reason = BoundedCharField(
        max_length=REASON_MAX,
        required=True,
        what="The reason",
        help_text=f"Why you are looking (at least {REASON_MIN} characters); it is audited and sent to Mimecast.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. User reported phishing, ticket INC-1234"}),
        error_messages={"required": "Give a reason for this search (at least 10 characters)."},
    )
    ticket = BoundedCharField(max_length=64, what="The ticket id", label="Ticket id (optional)")

    def clean_reason(self):
        reason = " ".join(self.cleaned_data["reason"].split())
        if len(reason) < REASON_MIN:
            raise forms.ValidationError(f"The reason must be at least {REASON_MIN} characters long.")
        return reason

    def clean_ticket(self):
        ticket = self.cleaned_data.get("ticket", "").strip()
        if ticket and not _TICKET.match(ticket):
            raise forms.ValidationError("A ticket id has letters, digits and . _ # / : - only.")
        return ticket

    def full_reason(self):
        ticket = self.cleaned_data.get("ticket")
        return f"{self.cleaned_data['reason']} [ticket {ticket}]" if ticket else self.cleaned_data["reason"]


class QuickSearchForm(forms.Form):
    q = BoundedCharField(max_length=2000, required=True, what="The search", label="Quick search")
    reason = BoundedCharField(max_length=REASON_MAX, what="The reason")
    ticket = BoundedCharField(max_length=64, what="The ticket id")

    def clean_q(self):
        return self.cleaned_data["q"].strip()


class WindowFields(forms.Form):
    """A time window: a preset, or custom dates at most 30 days back."""

    window = forms.ChoiceField(choices=WINDOW_CHOICES, initial="24h", required=False, label="Time window")
    start = forms.DateTimeField(
        required=False,
        label="From",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    end = forms.DateTimeField(
        required=False,
        label="To",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean_window_range(self, cleaned):
        now = timezone.now()
        window = cleaned.get("window") or "24h"
        cleaned["window"] = window
        if window != "custom":
            cleaned["range"] = (now - WINDOW_PRESETS[window][1], now)
            return
        start, end = cleaned.get("start"), cleaned.get("end")
        if "start" in self.errors or "end" in self.errors:
            return
        if start is None:
            self.add_error("start", "Give the start of the window.")
        if end is None:
            end = now
        if start is None:
            return
        if start < now - MAX_WINDOW - CLOCK_SKEW:
            self.add_error("start", "Mimecast keeps at most 30 days here: choose a start within the last 30 days.")
            return
        if end > now + CLOCK_SKEW:
            self.add_error("end", "The end of the window is in the future.")
            return
        if start >= end:
            self.add_error("end", "The end must be after the start.")
            return
        cleaned["range"] = (start, end)


ROUTE_CHOICES = [("inbound", "Inbound"), ("outbound", "Outbound"), ("internal", "Internal")]
TRACK_SORTS = {
    "received": "Received",
    "sent": "Sent",
    "status": "Status",
    "from": "From",
    "to": "To",
    "subject": "Subject",
    "route": "Route",
    "ip": "Sender IP",
    "spam": "Spam score",
}


class TrackTraceForm(ReasonFields, WindowFields):
    message_id = BoundedCharField(max_length=998, what="The Message-ID", label="Message-ID")
    sender = BoundedCharField(max_length=254, what="The sender", label="From (address or domain)")
    recipient = BoundedCharField(max_length=254, what="The recipient", label="To (address or domain)")
    subject = BoundedCharField(max_length=255, what="The subject", label="Subject contains")
    sender_ip = BoundedCharField(max_length=45, what="The sender IP", label="Sender IP")
    route = forms.MultipleChoiceField(
        choices=ROUTE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple, label="Route"
    )
    sort = forms.ChoiceField(choices=list(TRACK_SORTS.items()), required=False)
    dir = forms.ChoiceField(choices=[("desc", "descending"), ("asc", "ascending")], required=False)

    field_order = [
        "message_id",
        "sender",
        "recipient",
        "subject",
        "sender_ip",
        "route",
        "window",
        "start",
        "end",
        "reason",
        "ticket",
    ]

    def clean_message_id(self):
        value = self.cleaned_data["message_id"].strip()
        if value and not is_message_id(value):
            raise forms.ValidationError("A Message-ID looks like <something@host>.")
        return value

    def _address_or_domain(self, name):
        value = self.cleaned_data[name].strip().lower()
        if value and not (is_email(value) or is_domain(value)):
            raise forms.ValidationError("Type an email address (name@example.com) or a domain (example.com).")
        return value

    def clean_sender(self):
        return self._address_or_domain("sender")

    def clean_recipient(self):
        return self._address_or_domain("recipient")

    def clean_subject(self):
        return self.cleaned_data["subject"].strip()

    def clean_sender_ip(self):
        value = self.cleaned_data["sender_ip"].strip()
        if value and not is_ip(value):
            raise forms.ValidationError("Type an IPv4 or IPv6 address, e.g. 192.0.2.10.")
        return value

    def clean(self):
        cleaned = super().clean()
        advanced = [cleaned.get(n) for n in ("sender", "recipient", "subject", "sender_ip", "route")]
        has_error = any(n in self.errors for n in ("message_id", "sender", "recipient", "subject", "sender_ip"))
        if not has_error:
            if cleaned.get("message_id") and any(advanced):
                raise forms.ValidationError(
                    "Search either by Message-ID or by from / to / subject / IP / route, not both."
                )
            if not cleaned.get("message_id") and not any(advanced):
                raise forms.ValidationError(
                    "Give a Message-ID, or at least one of from, to, subject, sender IP or route."
                )
        self.clean_window_range(cleaned)
        cleaned["sort"] = cleaned.get("sort") or "received"
        cleaned["dir"] = cleaned.get("dir") or "desc"
        return cleaned

    def criteria(self):
        """What was searched, for the audit trail and Mimecast."""
        c = self.cleaned_data
        start, end = c["range"]
        return {
            "message_id": c["message_id"],
            "sender": c["sender"],
            "recipient": c["recipient"],
            "subject": c["subject"],
            "sender_ip": c["sender_ip"],
            "route": list(c["route"]),
            "window": c["window"],
            "start": start.isoformat(),
            "end": end.isoformat(),
        }


DOCUMENT_TYPES = [
    ("", "Any"),
    ("documents", "Documents"),
    ("spreadsheets", "Spreadsheets"),
    ("presentations", "Presentations"),
    ("pdf", "PDF"),
    ("text", "Text"),
]
PERIOD_LABELS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last_week": "Last week",
    "last_month": "Last month",
    "last_3_months": "Last 3 months",
    "last_6_months": "Last 6 months",
    "last_year": "Last year",
    "all": "All time",
}


class PageTokenField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(required=False, max_length=1000, widget=forms.HiddenInput, **kwargs)

    def clean(self, value):
        value = (super().clean(value) or "").strip()
        if value and not _TOKEN.match(value):
            raise forms.ValidationError("The page link is not valid; start the search again.")
        return value


class ArchiveSearchForm(ReasonFields):
    text = BoundedCharField(max_length=500, what="The search text", label="Text (anywhere)")
    subject = BoundedCharField(max_length=255, what="The subject", label="Subject")
    body = BoundedCharField(max_length=500, what="The body text", label="Body")
    attachment_text = BoundedCharField(max_length=500, what="The attachment text", label="Attachment text")
    from_address = BoundedCharField(max_length=254, what="The sender", label="From")
    to_address = BoundedCharField(max_length=254, what="The recipient", label="To")
    mailbox = BoundedCharField(max_length=254, what="The mailbox", label="Mailbox")
    scope = forms.ChoiceField(
        choices=[("admin", "Whole archive (admin)"), ("user", "My own mail (end user)")],
        required=False,
        initial="admin",
    )
    period = forms.ChoiceField(
        choices=[(p, PERIOD_LABELS.get(p, p)) for p in DATE_SELECTS], required=False, initial="last_month"
    )
    document_type = forms.ChoiceField(choices=DOCUMENT_TYPES, required=False, label="Document type")
    page = PageTokenField()

    field_order = [
        "text",
        "subject",
        "body",
        "attachment_text",
        "from_address",
        "to_address",
        "mailbox",
        "scope",
        "period",
        "document_type",
        "reason",
        "ticket",
    ]

    def _address(self, name, allow_domain=True):
        value = self.cleaned_data[name].strip().lower()
        if value and not (is_email(value) or (allow_domain and is_domain(value))):
            raise forms.ValidationError("Type an email address (name@example.com) or a domain (example.com).")
        return value

    def clean_from_address(self):
        return self._address("from_address")

    def clean_to_address(self):
        return self._address("to_address")

    def clean_mailbox(self):
        return self._address("mailbox", allow_domain=False)

    def clean(self):
        cleaned = super().clean()
        criteria = ("text", "subject", "body", "attachment_text", "from_address", "to_address", "mailbox")
        if not any(n in self.errors for n in criteria) and not any((cleaned.get(n) or "").strip() for n in criteria):
            raise forms.ValidationError(
                "Give some text, a subject, a body, attachment text, a sender, a recipient or a mailbox to search for."
            )
        cleaned["scope"] = cleaned.get("scope") or "admin"
        cleaned["period"] = cleaned.get("period") or "last_month"
        return cleaned

    def criteria(self):
        c = self.cleaned_data
        return {
            name: c.get(name, "")
            for name in (
                "text",
                "subject",
                "body",
                "attachment_text",
                "from_address",
                "to_address",
                "mailbox",
                "scope",
                "period",
                "document_type",
            )
        }


MAILBOX_WINDOWS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
}


class MailboxForm(ReasonFields):
    mailbox = BoundedCharField(max_length=254, required=True, what="The mailbox", label="Mailbox")
    view = forms.ChoiceField(choices=[("INBOX", "Received"), ("SENT", "Sent")], required=False, initial="INBOX")
    window = forms.ChoiceField(choices=list(MAILBOX_WINDOWS.items()), required=False, initial="yesterday")
    page = PageTokenField()

    field_order = ["mailbox", "view", "window", "reason", "ticket"]

    def clean_mailbox(self):
        value = self.cleaned_data["mailbox"].strip().lower()
        if not is_email(value):
            raise forms.ValidationError("Type the mailbox's email address (name@example.com).")
        return value

    def clean(self):
        cleaned = super().clean()
        cleaned["view"] = cleaned.get("view") or "INBOX"
        window = cleaned.get("window") or "yesterday"
        cleaned["window"] = window
        now = timezone.localtime()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        cleaned["range"] = {
            "today": (midnight, now),
            "yesterday": (midnight - timedelta(days=1), midnight),
            "24h": (now - timedelta(hours=24), now),
            "7d": (now - timedelta(days=7), now),
            "30d": (now - timedelta(days=30), now),
        }[window]
        return cleaned

    def criteria(self):
        c = self.cleaned_data
        start, end = c["range"]
        return {
            "mailbox": c["mailbox"],
            "view": c["view"],
            "window": c["window"],
            "start": start.isoformat(),
            "end": end.isoformat(),
        }


class ContentReasonForm(ReasonFields):
    """The reason asked before a body view or a download."""

    reason = BoundedCharField(
        max_length=REASON_MAX,
        required=True,
        what="The reason",
        help_text="Why you need the content (at least 10 characters); it is audited.",
        error_messages={"required": "Give a reason (at least 10 characters)."},
    )
    context = forms.ChoiceField(
        choices=[("RECEIVED", "As received"), ("DELIVERED", "As delivered")], required=False, initial="RECEIVED"
    )

    def clean(self):
        cleaned = super().clean()
        cleaned["context"] = cleaned.get("context") or "RECEIVED"
        return cleaned
