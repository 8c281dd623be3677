"""Forms of the remediation pages. Bad input becomes a message next to its field, never a 500."""

import re

from django import forms
from django.contrib.auth import get_user_model

from investigations.models import RemediationRequest

_HASH = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$")
_DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]

Kind = RemediationRequest.Kind
SearchBy = RemediationRequest.SearchBy
State = RemediationRequest.State


class RemediationRequestForm(forms.Form):
    kind = forms.ChoiceField(label="Incident type", choices=Kind.choices, initial=Kind.REMEDIATE)
    search_by = forms.ChoiceField(label="Search by", choices=[("", "—"), *SearchBy.choices], required=False)
    search_value = forms.CharField(
        label="Message-ID, SHA-256 / SHA-1 / MD5, or URL", max_length=2048, required=False, strip=True
    )
    sender = forms.CharField(label="From (address or domain, optional)", max_length=320, required=False)
    recipient = forms.CharField(label="To (address or domain, optional)", max_length=320, required=False)
    start = forms.DateTimeField(
        label="From date (default: one month back)",
        required=False,
        widget=_DATETIME_INPUT,
        input_formats=_DATETIME_FORMATS,
    )
    end = forms.DateTimeField(
        label="To date (default: end of today)",
        required=False,
        widget=_DATETIME_INPUT,
        input_formats=_DATETIME_FORMATS,
    )
    restore_of = forms.IntegerField(label="Restore the remediation request #", required=False, min_value=1)
    restore_code = forms.CharField(label="Restore code", max_length=128, required=False)
    unremediate_code = forms.CharField(label="Unremediate code (optional)", max_length=128, required=False)
    reason = forms.CharField(label="Reason", min_length=10, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))
    ticket_id = forms.CharField(label="Ticket id (optional)", max_length=64, required=False)

    def clean_search_value(self):
        return (self.cleaned_data.get("search_value") or "").strip()

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == Kind.REMEDIATE:
            self._clean_remediate(data)
        elif kind == Kind.RESTORE:
            self._clean_restore(data)
        start, end = data.get("start"), data.get("end")
        if start and end and start >= end:
            self.add_error("end", "The end must be after the start.")
        return data

    def _clean_remediate(self, data):
        by, value = data.get("search_by"), data.get("search_value", "")
        if not by:
            self.add_error("search_by", "Choose what to search by: Message-ID, file hash or URL.")
            return
        if not value:
            self.add_error("search_value", "Give the Message-ID, file hash or URL to remediate.")
            return
        if by == SearchBy.FILE_HASH:
            value = value.lower()
            if not _HASH.match(value):
                self.add_error("search_value", "That is not an MD5, SHA-1 or SHA-256 hash (hex digits only).")
                return
            data["search_value"] = value
        elif by == SearchBy.URL and (
            not value.lower().startswith(("http://", "https://")) or any(c.isspace() for c in value)
        ):
            self.add_error("search_value", "Give a full URL starting with http:// or https://.")
        elif by == SearchBy.MESSAGE_ID and (any(c.isspace() for c in value) or "@" not in value):
            self.add_error("search_value", "A Message-ID looks like <id@host>, with no spaces.")
        data["restore_of"] = None
        data["restore_code"] = ""

    def _clean_restore(self, data):
        source_id = data.get("restore_of")
        if source_id:
            source = RemediationRequest.objects.filter(pk=source_id).first()
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


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(label="Reason", min_length=3, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    password = forms.CharField(
        label="Your password (you signed in more than 10 minutes ago)",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)


class CancelForm(forms.Form):
    reason = forms.CharField(label="Why cancel (optional)", max_length=2000, required=False)


class RemediationFilterForm(forms.Form):
    state = forms.ChoiceField(choices=[("", "Any state"), *State.choices], required=False)
    requester = forms.CharField(max_length=150, required=False)
    date_from = forms.DateField(label="Requested from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="Requested to", required=False, widget=forms.DateInput(attrs={"type": "date"}))

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
