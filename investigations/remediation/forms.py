"""Forms of the remediation pages. Bad input becomes a message next to its field, never a 500."""

from django import forms
from django.contrib.auth import get_user_model

from investigations.core.validators import (
    EmailOrDomainField,
    TextField,
    TicketField,
    datetime_field,
    hash_kind,
    is_message_id,
    is_url,
    window_error,
)
from investigations.models import RemediationRequest

Kind = RemediationRequest.Kind
SearchBy = RemediationRequest.SearchBy
State = RemediationRequest.State


def _reason(label, *, min_length=None, max_length=2000, required=True, rows=None):
    """A multi-line reason: line breaks allowed, other control and invisible characters not."""
    widget = forms.Textarea(attrs={"rows": rows}) if rows else None
    return TextField(
        label=label, min_length=min_length, max_length=max_length, required=required, multiline=True, widget=widget
    )


# What each "search by" accepts, and what to say when the value is something else.
_SEARCH_VALUE_RULES = {
    SearchBy.FILE_HASH: (hash_kind, "That is not an MD5, SHA-1 or SHA-256 hash (hex digits only)."),
    SearchBy.URL: (is_url, "Give a full URL starting with http:// or https://."),
    SearchBy.MESSAGE_ID: (is_message_id, "A Message-ID looks like <id@host>, with no spaces."),
}


class RemediationRequestForm(forms.Form):
    kind = forms.ChoiceField(label="Incident type", choices=Kind.choices, initial=Kind.REMEDIATE)
    search_by = forms.ChoiceField(label="Search by", choices=[("", "—"), *SearchBy.choices], required=False)
    search_value = TextField(label="Message-ID, SHA-256 / SHA-1 / MD5, or URL", max_length=2048)
    sender = EmailOrDomainField(label="From (address or domain, optional)")
    recipient = EmailOrDomainField(label="To (address or domain, optional)")
    # Unbounded: a remediation may reach back as far as Mimecast keeps mail; the service fills in
    # Mimecast's own defaults for a missing start or end.
    start = datetime_field("From date (default: one month back)")
    end = datetime_field("To date (default: end of today)")
    restore_of = forms.IntegerField(label="Restore the remediation request #", required=False, min_value=1)
    restore_code = TextField(label="Restore code", max_length=128)
    unremediate_code = TextField(label="Unremediate code (optional)", max_length=128)
    reason = _reason("Reason", min_length=10, rows=3)
    ticket_id = TicketField(label="Ticket id (optional)")

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == Kind.REMEDIATE:
            self._clean_remediate(data)
        elif kind == Kind.RESTORE:
            self._clean_restore(data)
        start, end = data.get("start"), data.get("end")
        if start and end and (problem := window_error(start, end)):
            self.add_error(*problem)
        return data

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
    reason = _reason("Reason", min_length=3, rows=2)
    password = forms.CharField(
        label="Your password (you signed in more than 10 minutes ago)",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)


class CancelForm(forms.Form):
    reason = _reason("Why cancel (optional)", required=False)


class RemediationFilterForm(forms.Form):
    state = forms.ChoiceField(choices=[("", "Any state"), *State.choices], required=False)
    requester = TextField(max_length=150)
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
