"""Forms of the threat tools, directory and awareness pages.

Every search form is a GET form, so a search is a shareable URL. Whatever a user types either
passes or comes back as an error next to its field: control characters, over-long values, bad
dates and windows too wide for Mimecast are refused here, before any call goes out."""

import re
from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError

from investigations.core.validators import (
    HASH_LABELS,
    MAX_URL_LENGTH,
    EmailField,
    EmailOrDomainField,
    PageTokenField,
    TextField,
    TimeWindowForm,
    TokenField,
    hash_kind,
    is_hex,
    is_url,
)

MAX_HASHES = 1000
MAX_URLS = 100


class WindowForm(TimeWindowForm):
    """A log search over a time window; its criteria carry the window's "start" and "end".

    A log opened without a window searches the last 7 days: shorter windows are usually empty. The
    default is written into the bound data too, so the window picker shows the window searched (a
    bound form ignores ``initial`` and would show its first choice, the last hour)."""

    default_window = "7d"
    page = PageTokenField()

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and not (data.get("window") or data.get("start") or data.get("end")):
            data = data.copy()
            data["window"] = self.default_window
        super().__init__(data, *args, **kwargs)

    def clean(self):
        data = super().clean()
        window = self.resolve_window(data)
        if window:
            data["start"], data["end"] = window[1:]
        return data


def _choices(*values, any_label="Any", **labels):
    """(value, label) pairs: "" reads ``any_label``, others their own name unless ``labels`` names them."""
    return [(v, labels.get(v) or (v.replace("_", " ").capitalize() if v else any_label)) for v in values]


def _search_in(*fields):
    """Which field a log's text filter looks in: any, or one of ``fields`` ((name, label) pairs)."""
    return forms.ChoiceField(choices=[("all", "Any field"), *fields], required=False, label="Search in")


def _choice(*values, label=None, **labels):
    return forms.ChoiceField(choices=_choices(*values, **labels), required=False, label=label)


ROUTES = _choices("all", "inbound", "outbound", "internal")


class UrlLogForm(WindowForm):
    route = forms.ChoiceField(choices=ROUTES, required=False)
    scan_result = _choice("all", "clean", "malicious", label="Verdict")
    q = TextField(label="Contains", help_text="user, sender, URL or subject")


class AttachmentLogForm(WindowForm):
    route = forms.ChoiceField(choices=[*ROUTES, ("external", "External")], required=False)
    result = _choice("all", "safe", "malicious", "unsafe", "timeout", "error", label="Verdict")
    q = TextField(label="Contains", help_text="sender, recipient, file name or SHA-256")


class ImpersonationLogForm(WindowForm):
    search_field = _search_in(
        ("senderAddress", "Sender"), ("recipientAddress", "Recipient"), ("subject", "Subject"), ("policy", "Policy")
    )
    query = TextField(label="Text")
    tagged = _choice("", "yes", "no", yes="Tagged malicious", no="Not tagged malicious")
    action = _choice("", "hold", "bounce", "none")


class HeldForm(WindowForm):
    search_field = _search_in(
        ("subject", "Subject"), ("sender", "Sender"), ("recipient", "Recipient"), ("reason_code", "Reason code")
    )
    value = TextField(label="Text")
    route = _choice("", "inbound", "outbound", "internal")


class ReleaseLogForm(WindowForm):
    default_window = "30d"
    search_field = _search_in(
        ("operator", "Operator"),
        ("from", "From"),
        ("to", "To"),
        ("subject", "Subject"),
        ("info", "Info"),
        ("heldReason", "Held reason"),
    )
    value = TextField(label="Text")
    status = _choice("", "released", "rejected")
    route = _choice("", "inbound", "outbound", "internal")


class RejectionForm(WindowForm):
    # Mimecast keeps rejection logs for 7 days.
    max_span = timedelta(days=7)
    max_back = timedelta(days=7)
    presets = ("1h", "24h", "7d")
    search_field = _search_in(("from", "From"), ("to", "To"), ("info", "Info"), ("remoteIp", "Remote IP"))
    value = TextField(label="Text")
    mailbox = EmailField(label="Recipient mailbox")


class IncidentForm(WindowForm):
    default_window = "30d"
    max_span = timedelta(days=366)
    presets = ("24h", "7d", "30d")
    search_field = _search_in(("code", "Code"), ("file_hash", "File hash"), ("reason", "Reason"))
    value = TextField(label="Text")
    type = _choice("", "manual", "automatic", "notify_only", "restored", automatic="Automatic (Mimecast)")


class ManagedUrlForm(forms.Form):
    domain_or_url = TextField(label="Domain or URL contains", max_length=MAX_URL_LENGTH)
    exact = forms.BooleanField(required=False, label="Exact domain match")
    page = PageTokenField()


class IncidentLookupForm(forms.Form):
    id = TokenField(required=True, max_length=512, label="Incident id")


# ---------------------------------------------------------------------------- hashes and URLs


def classify_hash(token):
    """("MD5" | "SHA-1" | "SHA-256" label, None) for a valid hash, or (None, why) for anything else."""
    kind = hash_kind(token)
    if kind:
        return HASH_LABELS[kind], None
    if is_hex(token):
        return None, f"{len(token)} hex characters; hashes have 32 (MD5), 40 (SHA-1) or 64 (SHA-256)"
    return None, "not hexadecimal"


def _unique(tokens, key=lambda token: token):
    """The non-empty tokens, first occurrence kept, in the order given."""
    seen, kept = set(), []
    for token in tokens:
        if token and key(token) not in seen:
            seen.add(key(token))
            kept.append(token)
    return kept


def _sort_pasted(tokens, *, one, many, most, check):
    """(valid, invalid) of a pasted list: ``check`` turns a token into (value, None) or (None, (shown, why)).
    An empty or over-long list is refused outright."""
    if not tokens:
        raise ValidationError(f"Paste at least one {one}.")
    if len(tokens) > most:
        raise ValidationError(f"At most {most:,} {many} at once; you gave {len(tokens):,}.")
    valid, invalid = [], []
    for token in tokens:
        value, problem = check(token)
        if problem:
            invalid.append(problem)
        else:
            valid.append(value)
    return valid, invalid


def _check_hash(token):
    kind, why = classify_hash(token)
    return ((token.lower(), kind), None) if kind else (None, (token[:100] + ("…" if len(token) > 100 else ""), why))


def _check_url(line):
    if len(line) > MAX_URL_LENGTH:
        return None, (line[:100] + "…", f"longer than {MAX_URL_LENGTH} characters")
    return (line, None) if is_url(line) else (None, (line[:200], "not an http(s) URL"))


def _pasted(**kwargs):
    return TextField(required=True, multiline=True, **kwargs)


class HashSearchForm(forms.Form):
    hashes = _pasted(
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        max_length=200_000,
        label="Hashes (MD5, SHA-1 or SHA-256; one per line, or separated by spaces or commas)",
    )

    def clean_hashes(self):
        tokens = _unique(re.split(r"[\s,;]+", self.cleaned_data["hashes"]), key=str.lower)
        valid, invalid = _sort_pasted(tokens, one="hash", many="hashes", most=MAX_HASHES, check=_check_hash)
        if not valid:
            raise ValidationError(
                "None of these is an MD5 (32), SHA-1 (40) or SHA-256 (64 hex characters) hash: "
                + ", ".join(f"“{t}” ({why})" for t, why in invalid[:5])
                + ("…" if len(invalid) > 5 else "")
            )
        return {"valid": valid, "invalid": invalid}


class UrlDecodeForm(forms.Form):
    urls = _pasted(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        max_length=MAX_URLS * (MAX_URL_LENGTH + 2),
        label="Rewritten URLs (one per line)",
    )

    def clean_urls(self):
        lines = _unique(line.strip() for line in self.cleaned_data["urls"].splitlines())
        valid, invalid = _sort_pasted(lines, one="URL", many="URLs", most=MAX_URLS, check=_check_url)
        if not valid:
            raise ValidationError("None of these is an http(s) URL: " + ", ".join(f"“{t}”" for t, _ in invalid[:5]))
        return {"valid": valid, "invalid": invalid}


# ----------------------------------------------------------------------------- web security


class WebSecurityForm(WindowForm):
    user = TextField(label="User (address or part of it)")
    site = TextField(label="Domain or URL contains", max_length=MAX_URL_LENGTH)
    category = TextField(label="Category", max_length=128)
    action = _choice("", "allowed", "blocked")
    page = TextField(label="", max_length=64, widget=forms.HiddenInput)

    def clean_page(self):
        value = self.cleaned_data.get("page") or ""
        if value and not re.fullmatch(r"\d{1,20}:\d{1,20}", value):
            raise ValidationError("This page link is damaged; start the search again.")
        return value


# ----------------------------------------------------------------------- directory, awareness


class GroupSearchForm(forms.Form):
    query = TextField(label="Group name contains")
    source = forms.ChoiceField(choices=[("cloud", "Cloud"), ("ldap", "LDAP")], required=False)
    page = PageTokenField()


class GroupMembersForm(forms.Form):
    id = TokenField(required=True, max_length=512, label="Group id")
    name = TextField(label="Group name")
    page = PageTokenField()


class PolicyForm(forms.Form):
    sender = EmailOrDomainField(label="Sender address or domain")


class ScreenNumberField(forms.IntegerField):
    """Which screen of a long list to show (the lists Mimecast answers 500 rows at a time are shown 50
    a screen). A hidden field: a damaged number is an error above the form, never a 500."""

    def __init__(self, **kwargs):
        super().__init__(
            required=False,
            min_value=1,
            max_value=10_000,
            label="Page number",
            widget=forms.HiddenInput,
            error_messages={
                "invalid": "This page number is not valid; start again from the first page.",
                "min_value": "This page number is not valid; start again from the first page.",
                "max_value": "This page number is not valid; start again from the first page.",
            },
            **kwargs,
        )


class SafeScoreForm(forms.Form):
    q = TextField(label="Name, address or department contains")
    risk = forms.ChoiceField(choices=[("", "Any"), *[(g, g) for g in "ABCDF"]], required=False, label="Risk grade")
    page = PageTokenField()
    n = ScreenNumberField()


class AwarenessUserForm(forms.Form):
    email = EmailField(required=True, label="User address")


class CampaignForm(forms.Form):
    id = TokenField(required=True, max_length=512, label="Campaign id")
    result = _choice("", "clicked", "submitted", "reported", "opened", any_label="Everyone", submitted="Submitted data")
    page = PageTokenField()
    n = ScreenNumberField()
