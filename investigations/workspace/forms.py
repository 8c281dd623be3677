"""The investigation workspace's forms: quick search, track & trace, archive search, mailbox view, and
the reason asked before a body view or a download.

Every field is bounded and checked here, so whatever a user types becomes a field error next to the
field and never reaches Mimecast (or a 500)."""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.utils import timezone
from django.utils.formats import date_format

from investigations.core.context import case_reason
from investigations.core.validators import (
    EmailField,
    EmailOrDomainField,
    IPField,
    MessageIdField,
    PageTokenField,
    ReasonField,
    TextField,
    TicketField,
    TimeWindowForm,
    hash_kind,
    is_domain,
    is_email,
    is_ip,
    is_message_id,
    is_mimecast_id,
    is_rewritten_url,
    is_url,
    preset_range,
    window_choices,
)
from investigations.mimecast.archive_query import DATE_SELECTS

REASON_MIN = 10
REASON_MAX = 500


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
    kind = hash_kind(value)
    if kind:
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


def _window_criteria(cleaned):
    """The searched window as the audit trail records it."""
    start, end = cleaned["range"]
    return {"window": cleaned["window"], "start": start.isoformat(), "end": end.isoformat()}


def _local(moment):
    return date_format(timezone.localtime(moment), "Y-m-d H:i")


def _window_chip(form, cleaned):
    """The searched window in words: the preset's label, or the dates in the viewer's time zone."""
    labels = dict(form.fields["window"].choices)
    window = cleaned.get("window")
    if window and window != "custom" and window in labels:
        return ("Window", str(labels[window]))
    start, end = cleaned["range"]
    return ("Window", f"{_local(start)} to {_local(end)}")


def _chips(form, names):
    """(label, value) of each criterion given, in the form's order: what the folded search panel shows."""
    chips = []
    for name in names:
        value = form.cleaned_data.get(name)
        if isinstance(value, list | tuple):
            choices = dict(form.fields[name].choices)
            value = ", ".join(str(choices.get(v, v)) for v in value)
        if value:
            chips.append((str(form.fields[name].label or name), str(value)))
    return chips


def window_query(window, start, end):
    """The query keys that give a track & trace search the same window: the preset's name when track
    & trace has it (a pivot from "Last 7 days" is again the last 7 days), else the dates themselves."""
    if window in TrackTraceForm.presets:
        return {"window": window}
    if start is None or end is None:
        return {}
    return {"window": "custom", "start": start.isoformat(timespec="seconds"), "end": end.isoformat(timespec="seconds")}


class ReasonFields(forms.Form):
    """The reason and ticket a search, view or download asks for. Given the ``investigation`` the user
    works in, it asks for neither: the case's reason and ticket stand for them."""

    reason = TextField(
        max_length=REASON_MAX,
        required=True,
        what="The reason",
        help_text=f"Why you are looking (at least {REASON_MIN} characters); it is audited and sent to Mimecast.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. User reported phishing, ticket INC-1234"}),
        error_messages={"required": "Give a reason for this search (at least 10 characters)."},
    )
    ticket = TicketField(what="The ticket id", label="Ticket id (optional)")

    def __init__(self, *args, investigation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.investigation = investigation
        if investigation is not None:
            del self.fields["reason"], self.fields["ticket"]

    def clean_reason(self):
        reason = " ".join(self.cleaned_data["reason"].split())
        if len(reason) < REASON_MIN:
            raise forms.ValidationError(f"The reason must be at least {REASON_MIN} characters long.")
        return reason

    def full_reason(self):
        if self.investigation is not None:
            return case_reason(self.investigation)
        ticket = self.cleaned_data.get("ticket")
        return f"{self.cleaned_data['reason']} [ticket {ticket}]" if ticket else self.cleaned_data["reason"]


# The quick search answers with a redirect that carries what was typed. gunicorn refuses a request
# line over 4,094 bytes and Django a redirect over 16,384, so a search that would not fit (2,000 emoji
# percent-encode to 24,000 bytes) is refused here, with words, instead of by either of them.
QUICK_LINK_MAX = 4000


class QuickSearchForm(forms.Form):
    q = TextField(max_length=2000, required=True, what="The search", label="Quick search")
    reason = TextField(max_length=REASON_MAX, what="The reason")
    ticket = TextField(max_length=64, what="The ticket id")

    def clean(self):
        cleaned = super().clean()
        size = len(urlencode({name: cleaned.get(name) or "" for name in ("q", "reason", "ticket")}))
        if size > QUICK_LINK_MAX:
            raise forms.ValidationError(
                f"The search, reason and ticket are too long to pass on to the results page "
                f"({size:,} characters once encoded for a link, at most {QUICK_LINK_MAX:,}). Shorten the search."
            )
        return cleaned


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
TRACK_CRITERIA = ("sender", "recipient", "subject", "sender_ip", "route")
TRACK_PAGE_SIZE = 100
TRACK_PAGES = 5  # Mimecast's cap of 500 rows, 100 a page


class TrackTraceForm(ReasonFields, TimeWindowForm):
    """Track & trace: a Message-ID, or from / to / subject / IP / route, within the last 30 days."""

    presets = ("10m", "1h", "24h", "7d", "30d")
    max_back = timedelta(days=30)  # what Mimecast's track & trace keeps

    message_id = MessageIdField(what="The Message-ID", label="Message-ID")
    sender = EmailOrDomainField(what="The sender", label="From (address or domain)")
    recipient = EmailOrDomainField(what="The recipient", label="To (address or domain)")
    subject = TextField(max_length=255, what="The subject", label="Subject contains")
    sender_ip = IPField(what="The sender IP", label="Sender IP")
    route = forms.MultipleChoiceField(
        choices=ROUTE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple, label="Route"
    )
    sort = forms.ChoiceField(choices=list(TRACK_SORTS.items()), required=False)
    dir = forms.ChoiceField(choices=[("desc", "descending"), ("asc", "ascending")], required=False)
    # The page of the sorted result (Mimecast answers at most 500 rows at once, shown 100 a page). A page
    # link is ours, not typed: a wrong number is read as the first page rather than an error with no field.
    p = forms.CharField(max_length=3, required=False, widget=forms.HiddenInput)

    field_order = ["message_id", *TRACK_CRITERIA, "window", "start", "end", "reason", "ticket"]

    def clean(self):
        cleaned = super().clean()
        if not any(n in self.errors for n in ("message_id", *TRACK_CRITERIA)):
            advanced = any(cleaned.get(n) for n in TRACK_CRITERIA)
            if cleaned.get("message_id") and advanced:
                raise forms.ValidationError(
                    "Search either by Message-ID or by from / to / subject / IP / route, not both."
                )
            if not cleaned.get("message_id") and not advanced:
                raise forms.ValidationError(
                    "Give a Message-ID, or at least one of from, to, subject, sender IP or route."
                )
        window = self.resolve_window(cleaned)
        cleaned["window"] = window[0] if window else cleaned.get("window") or "custom"
        if window:
            cleaned["range"] = window[1:]
        cleaned["sort"] = cleaned.get("sort") or "received"
        cleaned["dir"] = cleaned.get("dir") or "desc"
        return cleaned

    def clean_p(self):
        page = self.cleaned_data.get("p") or ""
        # ASCII digits only: "²" is a digit to str.isdigit() but not a number to int().
        return min(int(page), TRACK_PAGES) if page.isascii() and page.isdigit() and int(page) > 0 else 1

    def criteria(self):
        """What was searched, for the audit trail and Mimecast."""
        c = self.cleaned_data
        fields = {name: c[name] for name in ("message_id", "sender", "recipient", "subject", "sender_ip")}
        return {**fields, "route": list(c["route"]), **_window_criteria(c)}

    def chips(self):
        return [*_chips(self, ("message_id", *TRACK_CRITERIA)), _window_chip(self, self.cleaned_data)]

    def kept_window(self):
        """This search's window, for the searches an analyst pivots to from its results."""
        return window_query(self.cleaned_data["window"], *self.cleaned_data["range"])


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


ARCHIVE_CRITERIA = ("text", "subject", "body", "attachment_text", "from_address", "to_address", "mailbox")


class ArchiveSearchForm(ReasonFields):
    text = TextField(max_length=500, what="The search text", label="Text (anywhere)")
    subject = TextField(max_length=255, what="The subject", label="Subject")
    body = TextField(max_length=500, what="The body text", label="Body")
    attachment_text = TextField(max_length=500, what="The attachment text", label="Attachment text")
    from_address = EmailOrDomainField(what="The sender", label="From")
    to_address = EmailOrDomainField(what="The recipient", label="To")
    mailbox = EmailField(what="The mailbox", label="Mailbox")
    scope = forms.ChoiceField(
        choices=[("admin", "Whole archive (admin)"), ("user", "My own mail (end user)")],
        required=False,
        initial="admin",
    )
    period = forms.ChoiceField(
        choices=[(p, PERIOD_LABELS.get(p, p)) for p in DATE_SELECTS], required=False, initial="last_month"
    )
    document_type = forms.ChoiceField(choices=DOCUMENT_TYPES, required=False, label="Document type")
    page = PageTokenField(max_length=1000)

    field_order = [*ARCHIVE_CRITERIA, "scope", "period", "document_type", "reason", "ticket"]

    def clean(self):
        cleaned = super().clean()
        if not any(n in self.errors for n in ARCHIVE_CRITERIA) and not any(cleaned.get(n) for n in ARCHIVE_CRITERIA):
            raise forms.ValidationError(
                "Give some text, a subject, a body, attachment text, a sender, a recipient or a mailbox to search for."
            )
        cleaned["scope"] = cleaned.get("scope") or "admin"
        cleaned["period"] = cleaned.get("period") or "last_month"
        return cleaned

    def criteria(self):
        c = self.cleaned_data
        return {name: c.get(name, "") for name in (*ARCHIVE_CRITERIA, "scope", "period", "document_type")}

    def chips(self):
        c = self.cleaned_data
        chips = _chips(self, (*ARCHIVE_CRITERIA, "document_type"))
        if c["scope"] == "user":
            chips.append(("Scope", "My own mail"))
        return [*chips, ("Period", PERIOD_LABELS.get(c["period"], c["period"]))]


class MailboxForm(ReasonFields):
    mailbox = EmailField(required=True, what="The mailbox", label="Mailbox")
    view = forms.ChoiceField(choices=[("INBOX", "Received"), ("SENT", "Sent")], required=False, initial="INBOX")
    window = forms.ChoiceField(
        choices=window_choices(("today", "yesterday", "24h", "7d", "30d"), custom=False),
        required=False,
        initial="yesterday",
    )
    page = PageTokenField(max_length=1000)

    field_order = ["mailbox", "view", "window", "reason", "ticket"]

    def clean(self):
        cleaned = super().clean()
        cleaned["view"] = cleaned.get("view") or "INBOX"
        cleaned["window"] = cleaned.get("window") or "yesterday"
        # Calendar days start at midnight where the analyst is, hence local time.
        cleaned["range"] = preset_range(cleaned["window"], timezone.localtime())
        return cleaned

    def criteria(self):
        c = self.cleaned_data
        return {"mailbox": c["mailbox"], "view": c["view"], **_window_criteria(c)}

    def chips(self):
        c = self.cleaned_data
        view = dict(self.fields["view"].choices)[c["view"]]
        return [("Mailbox", c["mailbox"]), ("View", str(view)), _window_chip(self, c)]

    def kept_window(self):
        return window_query(self.cleaned_data["window"], *self.cleaned_data["range"])


class KeptWindowForm(TimeWindowForm):
    """The time window a pivot carries from one search to the next (track & trace's presets, or dates),
    read back from a link such as the message page's; anything wrong is dropped, never shown."""

    presets = TrackTraceForm.presets
    max_back = TrackTraceForm.max_back

    def kept(self):
        """The window's query keys, or {} when the link carried none or a wrong one."""
        if not self.is_valid() or not any(self.data.get(k) for k in ("window", "start", "end")):
            return {}
        window = self.resolve_window(self.cleaned_data)
        return window_query(*window) if window else {}


class ContentReasonForm(ReasonFields):
    """The reason asked before a body view or a download."""

    reason = ReasonField(
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
