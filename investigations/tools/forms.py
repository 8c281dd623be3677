"""Forms of the threat tools, directory and awareness pages (issue 4, items 6 to 8).

Every search form is a GET form, so a search is a shareable URL. Whatever a user types either
passes or comes back as an error next to its field: control characters, over-long values, bad
dates and windows too wide for Mimecast are refused here, before any call goes out."""

import re
from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils import timezone

MAX_HASHES = 1000
MAX_URLS = 100
MAX_URL_LENGTH = 4096
MAX_TEXT = 320
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-=+/.:~%]*$")
HASH_KINDS = {32: "MD5", 40: "SHA-1", 64: "SHA-256"}
_HEX = re.compile(r"^[0-9a-f]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def no_control_characters(value):
    if _CONTROL.search(value or ""):
        raise ValidationError("Remove the control characters (invisible characters such as tabs or escapes).")


def single_line(value):
    if _CONTROL_LINE.search(value or ""):
        raise ValidationError("Use one line of visible characters only.")


def page_token(value):
    if value and not _TOKEN.match(value):
        raise ValidationError("This page link is damaged; start the search again.")


class Text(forms.CharField):
    """One line of free text: trimmed, bounded, no control characters."""

    def __init__(self, *, max_length=MAX_TEXT, required=False, **kwargs):
        super().__init__(max_length=max_length, required=required, strip=True, **kwargs)
        self.validators.append(single_line)


class PageField(forms.CharField):
    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(max_length=4096, required=False, validators=[page_token], **kwargs)


def is_email(value):
    try:
        EmailValidator()(value)
    except ValidationError:
        return False
    return True


def is_domain(value):
    return bool(_DOMAIN.match(value.lower()))


class EmailOrDomain(Text):
    def clean(self, value):
        value = super().clean(value)
        if value and not (is_email(value) or is_domain(value)):
            raise ValidationError("Give an email address (name@example.com) or a domain (example.com).")
        return value.lower() if value else value


class Email(Text):
    def clean(self, value):
        value = super().clean(value)
        if value and not is_email(value):
            raise ValidationError("Give an email address such as name@example.com.")
        return value.lower() if value else value


# ------------------------------------------------------------------------------------ windows

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
WINDOW_LABELS = {"1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}
_DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class WindowForm(forms.Form):
    """A time window: a preset, or custom start and end (in the viewer's time zone)."""

    max_span = timedelta(days=30)
    max_back = timedelta(days=366)
    presets = ("1h", "24h", "7d", "30d")
    default_window = "24h"

    window = forms.ChoiceField(required=False, label="Window")
    start = forms.DateTimeField(required=False, widget=_DATETIME_INPUT, label="From")
    end = forms.DateTimeField(required=False, widget=_DATETIME_INPUT, label="To")
    page = PageField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["window"].choices = [(p, WINDOW_LABELS[p]) for p in self.presets] + [("custom", "Custom dates")]
        self.fields["window"].initial = self.default_window

    def clean(self):
        data = super().clean()
        now = timezone.now()
        window = data.get("window") or ""
        start, end = data.get("start"), data.get("end")
        if "start" in self.errors or "end" in self.errors:
            return data
        if window == "custom" or (not window and (start or end)):
            if not start:
                self.add_error("start", "Give the start of the window, or choose a preset.")
                return data
            end = end or now
            if end <= start:
                self.add_error("end", "The end must be after the start.")
            elif end - start > self.max_span:
                self.add_error("start", f"The window can be at most {self.max_span.days} days.")
            elif now - start > self.max_back:
                self.add_error("start", f"The start can be at most {self.max_back.days} days ago.")
            elif start > now:
                self.add_error("start", "The start is in the future.")
        else:
            end = now
            start = now - WINDOWS[window or self.default_window]
        data["start"], data["end"] = start, end
        return data


def _choices(*values):
    return [(v, v.replace("_", " ").capitalize() if v else "Any") for v in values]


ROUTES = _choices("all", "inbound", "outbound", "internal")


class UrlLogForm(WindowForm):
    route = forms.ChoiceField(choices=ROUTES, required=False)
    scan_result = forms.ChoiceField(choices=_choices("all", "clean", "malicious"), required=False, label="Verdict")
    q = Text(label="Contains", help_text="user, sender, URL or subject")


class AttachmentLogForm(WindowForm):
    route = forms.ChoiceField(choices=[*ROUTES, ("external", "External")], required=False)
    result = forms.ChoiceField(
        choices=_choices("all", "safe", "malicious", "unsafe", "timeout", "error"), required=False, label="Verdict"
    )
    q = Text(label="Contains", help_text="sender, recipient, file name or SHA-256")


class ImpersonationLogForm(WindowForm):
    search_field = forms.ChoiceField(
        choices=[
            ("all", "Any field"),
            ("senderAddress", "Sender"),
            ("recipientAddress", "Recipient"),
            ("subject", "Subject"),
            ("policy", "Policy"),
        ],
        required=False,
        label="Search in",
    )
    query = Text(label="Text")
    tagged = forms.ChoiceField(
        choices=[("", "Any"), ("yes", "Tagged malicious"), ("no", "Not tagged malicious")], required=False
    )
    action = forms.ChoiceField(choices=_choices("", "hold", "bounce", "none"), required=False)


class HeldForm(WindowForm):
    default_window = "7d"
    search_field = forms.ChoiceField(
        choices=[
            ("all", "Any field"),
            ("subject", "Subject"),
            ("sender", "Sender"),
            ("recipient", "Recipient"),
            ("reason_code", "Reason code"),
        ],
        required=False,
        label="Search in",
    )
    value = Text(label="Text")
    route = forms.ChoiceField(choices=_choices("", "inbound", "outbound", "internal"), required=False)


class ReleaseLogForm(WindowForm):
    default_window = "30d"
    search_field = forms.ChoiceField(
        choices=[
            ("all", "Any field"),
            ("operator", "Operator"),
            ("from", "From"),
            ("to", "To"),
            ("subject", "Subject"),
            ("info", "Info"),
            ("heldReason", "Held reason"),
        ],
        required=False,
        label="Search in",
    )
    value = Text(label="Text")
    status = forms.ChoiceField(choices=_choices("", "released", "rejected"), required=False)
    route = forms.ChoiceField(choices=_choices("", "inbound", "outbound", "internal"), required=False)


class RejectionForm(WindowForm):
    # Mimecast keeps rejection logs for 7 days.
    max_span = timedelta(days=7)
    max_back = timedelta(days=7)
    presets = ("1h", "24h", "7d")
    search_field = forms.ChoiceField(
        choices=[
            ("all", "Any field"),
            ("from", "From"),
            ("to", "To"),
            ("info", "Info"),
            ("remoteIp", "Remote IP"),
        ],
        required=False,
        label="Search in",
    )
    value = Text(label="Text")
    mailbox = Email(label="Recipient mailbox")


class IncidentForm(WindowForm):
    default_window = "30d"
    max_span = timedelta(days=366)
    presets = ("24h", "7d", "30d")
    search_field = forms.ChoiceField(
        choices=[("all", "Any field"), ("code", "Code"), ("file_hash", "File hash"), ("reason", "Reason")],
        required=False,
        label="Search in",
    )
    value = Text(label="Text")
    type = forms.ChoiceField(
        choices=[
            ("", "Any"),
            ("manual", "Manual"),
            ("automatic", "Automatic (Mimecast)"),
            ("notify_only", "Notify only"),
            ("restored", "Restored"),
        ],
        required=False,
    )


class ManagedUrlForm(forms.Form):
    domain_or_url = Text(label="Domain or URL contains", max_length=MAX_URL_LENGTH)
    exact = forms.BooleanField(required=False, label="Exact domain match")
    page = PageField()


class IncidentLookupForm(forms.Form):
    id = Text(required=True, max_length=512, label="Incident id")

    def clean_id(self):
        value = self.cleaned_data["id"]
        page_token(value)
        return value


# ---------------------------------------------------------------------------- hashes and URLs


def classify_hash(token):
    """("md5" | "sha1" | "sha256" label, None) for a valid hash, or (None, why) for anything else."""
    value = token.lower()
    kind = HASH_KINDS.get(len(value))
    if kind and _HEX.match(value):
        return kind, None
    if _HEX.match(value):
        return None, f"{len(value)} hex characters; hashes have 32 (MD5), 40 (SHA-1) or 64 (SHA-256)"
    return None, "not hexadecimal"


class HashSearchForm(forms.Form):
    hashes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        max_length=200_000,
        strip=True,
        label="Hashes (MD5, SHA-1 or SHA-256; one per line, or separated by spaces or commas)",
        validators=[no_control_characters],
    )

    def clean_hashes(self):
        tokens = []
        seen = set()
        for token in re.split(r"[\s,;]+", self.cleaned_data["hashes"]):
            key = token.lower()
            if token and key not in seen:
                seen.add(key)
                tokens.append(token)
        if not tokens:
            raise ValidationError("Paste at least one hash.")
        if len(tokens) > MAX_HASHES:
            raise ValidationError(f"At most {MAX_HASHES:,} hashes at once; you gave {len(tokens):,}.")
        valid, invalid = [], []
        for token in tokens:
            kind, why = classify_hash(token)
            if kind:
                valid.append((token.lower(), kind))
            else:
                invalid.append((token[:100] + ("…" if len(token) > 100 else ""), why))
        if not valid:
            raise ValidationError(
                "None of these is an MD5 (32), SHA-1 (40) or SHA-256 (64 hex characters) hash: "
                + ", ".join(f"“{t}” ({why})" for t, why in invalid[:5])
                + ("…" if len(invalid) > 5 else "")
            )
        return {"valid": valid, "invalid": invalid}


class UrlDecodeForm(forms.Form):
    urls = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        max_length=MAX_URLS * (MAX_URL_LENGTH + 2),
        strip=True,
        label="Rewritten URLs (one per line)",
        validators=[no_control_characters],
    )

    def clean_urls(self):
        lines = []
        for line in self.cleaned_data["urls"].splitlines():
            line = line.strip()
            if line and line not in lines:
                lines.append(line)
        if not lines:
            raise ValidationError("Paste at least one URL.")
        if len(lines) > MAX_URLS:
            raise ValidationError(f"At most {MAX_URLS} URLs at once; you gave {len(lines)}.")
        valid, invalid = [], []
        for line in lines:
            if len(line) > MAX_URL_LENGTH:
                invalid.append((line[:100] + "…", f"longer than {MAX_URL_LENGTH} characters"))
            elif not re.match(r"^https?://[^\s/]+", line, re.I):
                invalid.append((line[:200], "not an http(s) URL"))
            else:
                valid.append(line)
        if not valid:
            raise ValidationError("None of these is an http(s) URL: " + ", ".join(f"“{t}”" for t, _ in invalid[:5]))
        return {"valid": valid, "invalid": invalid}


# ----------------------------------------------------------------------------- web security


class WebSecurityForm(WindowForm):
    default_window = "7d"
    user = Text(label="User (address or part of it)")
    site = Text(label="Domain or URL contains", max_length=MAX_URL_LENGTH)
    category = Text(label="Category", max_length=128)
    action = forms.ChoiceField(choices=_choices("", "allowed", "blocked"), required=False)
    page = Text(label="", max_length=64, widget=forms.HiddenInput)

    def clean_page(self):
        value = self.cleaned_data.get("page") or ""
        if value and not re.fullmatch(r"\d{1,20}:\d{1,20}", value):
            raise ValidationError("This page link is damaged; start the search again.")
        return value


# ----------------------------------------------------------------------- directory, awareness


class GroupSearchForm(forms.Form):
    query = Text(label="Group name contains")
    source = forms.ChoiceField(choices=[("cloud", "Cloud"), ("ldap", "LDAP")], required=False)
    page = PageField()


class GroupMembersForm(forms.Form):
    id = Text(required=True, max_length=512, label="Group id")
    name = Text(label="Group name")
    page = PageField()

    def clean_id(self):
        value = self.cleaned_data["id"]
        page_token(value)
        return value


class PolicyForm(forms.Form):
    sender = EmailOrDomain(label="Sender address or domain")


class SafeScoreForm(forms.Form):
    q = Text(label="Name, address or department contains")
    risk = forms.ChoiceField(choices=[("", "Any"), *[(g, g) for g in "ABCDF"]], required=False, label="Risk grade")
    page = PageField()


class AwarenessUserForm(forms.Form):
    email = Email(required=True, label="User address")


class CampaignForm(forms.Form):
    id = Text(required=True, max_length=512, label="Campaign id")
    result = forms.ChoiceField(
        choices=[
            ("", "Everyone"),
            ("clicked", "Clicked"),
            ("submitted", "Submitted data"),
            ("reported", "Reported"),
            ("opened", "Opened"),
        ],
        required=False,
    )
    page = PageField()

    def clean_id(self):
        value = self.cleaned_data["id"]
        page_token(value)
        return value
