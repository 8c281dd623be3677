"""Forms of the remediation pages. Bad input becomes a message next to its field, never a 500."""

import re
from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from investigations.accounts.forms import StepUpForm
from investigations.core.validators import (
    CLOCK_SKEW,
    EmailOrDomainField,
    TextField,
    TicketField,
    date_field,
    datetime_field,
    hash_kind,
    is_message_id,
    is_url,
    window_error,
)
from investigations.models import RemediationRequest
from investigations.remediation.selectors import remediation_request_detail
from investigations.remediation.services import default_window

Kind = RemediationRequest.Kind
SearchBy = RemediationRequest.SearchBy
State = RemediationRequest.State


def _reason(label, *, min_length=None, max_length=2000, required=True, rows=None):
    """A multi-line reason: line breaks allowed, other control and invisible characters not."""
    widget = forms.Textarea(attrs={"rows": rows}) if rows else None
    return TextField(
        label=label, min_length=min_length, max_length=max_length, required=required, multiline=True, widget=widget
    )


def request_reason():
    """The reason every request form asks: at least 10 characters, shown to the approver and
    sent to Mimecast with the request's marker."""
    return _reason("Reason", min_length=10, rows=3)


def lines_field(label, *, most, longest, rows=4, required=True, help_text="", widget=forms.Textarea):
    """A textarea of one value a line: room for `most` lines of up to `longest` characters each."""
    return TextField(
        label=label,
        help_text=help_text,
        multiline=True,
        required=required,
        max_length=most * (longest + 2),
        widget=widget(attrs={"rows": rows}),
    )


def one_request_list(values: list, *, most: int, empty: str, too_many: str) -> list:
    """What one request acts on, as a form cleaned it: at least one value, and at most `most` (one request's
    limit). `too_many` may name {count}, the number given, and {most}."""
    if not values:
        raise forms.ValidationError(empty, code="required")
    if len(values) > most:
        raise forms.ValidationError(too_many.format(count=len(values), most=most), code="too_many")
    return values


# What each "search by" accepts, and what to say when the value is something else.
_SEARCH_VALUE_RULES = {
    SearchBy.FILE_HASH: (hash_kind, "That is not an MD5, SHA-1 or SHA-256 hash (hex digits only)."),
    SearchBy.URL: (is_url, "Give a full URL starting with http:// or https://."),
    SearchBy.MESSAGE_ID: (is_message_id, "A Message-ID looks like <id@host>, with no spaces."),
}


_TO_THE_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_DAY_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Mimecast remediates mail it holds, all of it already received: a window starts no later than now
# (and no earlier than the sane range), and ends at most by the end of today in any time zone.
# Anything later is a mistake, and a year such as 9999 is a date no page could read back.
END_AHEAD = timedelta(days=2)


def remediation_window_error(start, end, *, now):
    """The first rule a remediation window breaks, as (field, message), or None."""
    if start > now + CLOCK_SKEW:
        return "start", "The start is in the future: a remediation covers mail already received."
    if end > now + END_AHEAD:
        return "end", "The end can be at most the end of today (a remediation covers mail already received)."
    return window_error(start, end)


class RemediationRequestForm(forms.Form):
    kind = forms.ChoiceField(label="Incident type", choices=Kind.choices, initial=Kind.REMEDIATE)
    search_by = forms.ChoiceField(label="Search by", choices=[("", "—"), *SearchBy.choices], required=False)
    search_value = TextField(label="Message-ID, SHA-256 / SHA-1 / MD5, or URL", max_length=2048)
    sender = EmailOrDomainField(label="From (address or domain, optional)")
    recipient = EmailOrDomainField(label="To (address or domain, optional)")
    # A missing start or end gets Mimecast's own default (default_window) here, so the request
    # records the window it will really cover.
    start = datetime_field("From date (default: one month back)")
    end = datetime_field("To date (default: end of today)")
    restore_of = forms.IntegerField(label="Restore the remediation request #", required=False, min_value=1)
    restore_code = TextField(label="Restore code", max_length=128)
    unremediate_code = TextField(label="Unremediate code (optional)", max_length=128)
    reason = request_reason()
    ticket_id = TicketField(label="Ticket id (optional)")

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == Kind.REMEDIATE:
            self._clean_remediate(data)
        elif kind == Kind.RESTORE:
            self._clean_restore(data)
        self._clean_window(data)
        return data

    def clean_end(self):
        # The date picker gives minutes: an end "23:59" covers that whole minute and a bare date
        # the whole day, as Mimecast's own default end (23:59:59) does. An edit shows the stored
        # end to the minute, so saving it unchanged keeps 23:59:59 rather than cutting it to 23:59:00.
        end = self.cleaned_data.get("end")
        typed = str(self.data.get(self.add_prefix("end")) or "").strip()
        if end and _DAY_ONLY.fullmatch(typed):
            end = end.replace(hour=23, minute=59, second=59)
        elif end and _TO_THE_MINUTE.fullmatch(typed):
            end = end.replace(second=59)
        return end

    def _clean_window(self, data):
        if "start" in self.errors or "end" in self.errors:
            return
        default_start, default_end = default_window(timezone.now())
        start, end = data.get("start") or default_start, data.get("end") or default_end
        problem = remediation_window_error(start, end, now=timezone.now())
        if problem:
            field, message = problem
            if end <= start and not data.get("start"):
                message += " (The start defaults to one month back: give a start too.)"
            self.add_error(field, message)
            return
        data["start"], data["end"] = start, end

    def _clean_remediate(self, data):
        by, value = data.get("search_by"), data.get("search_value", "")
        if not by:
            self.add_error("search_by", "Choose what to search by: Message-ID, file hash or URL.")
            return
        if not value:
            if "search_value" not in self.errors:
                self.add_error("search_value", "Give the Message-ID, file hash or URL to remediate.")
            return
        accepts, message = _SEARCH_VALUE_RULES[by]
        if not accepts(value):
            self.add_error("search_value", message)
            return
        if by == SearchBy.FILE_HASH:
            data["search_value"] = value.lower()
        data["restore_of"] = None
        data["restore_code"] = ""

    def _clean_restore(self, data):
        source_id = data.get("restore_of")
        if source_id:
            # The selector reads a request whose stored window is unreadable too (as no window).
            source = remediation_request_detail(request_id=source_id)
            if source is None:
                self.add_error("restore_of", "There is no request with that number.")
                return
            if source.kind != Kind.REMEDIATE or source.state != State.SUCCEEDED or not source.incident_restore_code:
                self.add_error("restore_of", "Only a succeeded remediation (with a restore code) can be restored.")
                return
            data["restore_of"] = source
            data["restore_code"] = data.get("restore_code") or source.incident_restore_code
            data["search_by"], data["search_value"] = source.search_by, source.search_value
        else:
            data["restore_of"] = None
            if not data.get("restore_code"):
                self.add_error("restore_code", "Give the restore code, or the remediation request it undoes.")
            data["search_by"], data["search_value"] = "", ""


class _SteppedUpForm(StepUpForm):
    """A form that carries out a decision: a fresh proof of who is signed in when this session's is
    stale (the step-up fields), and the version of the page, so a decision never lands on a request
    that changed since it was read."""

    password = forms.CharField(
        label="Your password (you signed in more than 10 minutes ago)",
        required=False,
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    # Required: the page's version is the stale-page check, and a hand-made POST must not skip it.
    version = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        max_value=2**31 - 1,
        error_messages={"required": "This page is out of date; reload it and try again."},
    )


class DecisionForm(_SteppedUpForm):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = _reason("Reason", min_length=3, rows=2)
    field_order = ["decision", "reason", "password", "otp_code", "version"]


class BreakGlassForm(_SteppedUpForm):
    """An admin carrying out their own previewed request alone: why it cannot wait, and the same
    proof of who is signed in as a decision."""

    reason = _reason("Why this cannot wait for an approver", min_length=10, rows=2)
    field_order = ["reason", "password", "otp_code", "version"]


class CancelForm(forms.Form):
    reason = _reason("Why cancel (optional)", required=False)


class RemediationFilterForm(forms.Form):
    state = forms.ChoiceField(choices=[("", "Any state"), *State.choices], required=False)
    requester = TextField(max_length=150)
    date_from = date_field("Requested from")
    date_to = date_field("Requested to")

    def clean_requester(self):
        name = (self.cleaned_data.get("requester") or "").strip()
        if name and not get_user_model().objects.filter(username=name).exists():
            raise forms.ValidationError("No user has that name.")
        return name

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data
