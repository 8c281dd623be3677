"""The forms of the investigation pages: a case's fields, its status and members, the list filter,
and evidence posted from any page (one value or a selection)."""

from django import forms
from django.contrib.auth import get_user_model

from investigations.core.roles import CAPABILITIES
from investigations.core.validators import REASON_MAX, REASON_MIN, ReasonField, TextField, TicketField
from investigations.models import Evidence, Investigation

TITLE_MAX = 200
NOTE_MAX = 2000
# A selection posted from a list page: every row of the largest page and then some.
EVIDENCE_MAX = 500


class CaseForm(forms.Form):
    title = TextField(
        max_length=TITLE_MAX,
        required=True,
        what="The title",
        label="Title",
        error_messages={"required": "Give the investigation a title."},
    )
    reason = ReasonField(
        label="Reason",
        help_text=(
            f"Why you are investigating (at least {REASON_MIN} characters). Searches and views made in the "
            "investigation send it to Mimecast and the audit trail."
        ),
        error_messages={"required": f"Give a reason for the investigation (at least {REASON_MIN} characters)."},
    )
    ticket_id = TicketField(what="The ticket id", label="Ticket id (optional)")

    def clean_title(self):
        return " ".join(self.cleaned_data["title"].split())

    @staticmethod
    def initial_from_query(query):
        """The new-case form prefilled from a link: ``title``, or the quick search's ``q``."""
        title = (query.get("title") or "").strip()
        q = (query.get("q") or "").strip()
        if not title and q:
            title = f"Investigation: {q}"
        initial = {"title": title[:TITLE_MAX], "reason": (query.get("reason") or "")[:REASON_MAX]}
        initial["ticket_id"] = (query.get("ticket_id") or query.get("ticket") or "")[:64]
        return initial


def _workers():
    """Who may be a member: active users holding a role that may work cases."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=CAPABILITIES["work_cases"])
        .distinct()
        .order_by("username")
    )


class CaseEditForm(CaseForm):
    status = forms.ChoiceField(choices=Investigation.Status.choices, label="Status")
    members = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Members",
        help_text="The owner is always a member.",
        error_messages={
            "invalid_choice": "Choose members from the list.",
            "invalid_pk_value": "Choose members from the list.",
        },
    )
    change_reason = TextField(max_length=REASON_MAX, what="The note", label="Why (recorded in the audit trail)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = _workers()

    def values(self):
        return {
            name: self.cleaned_data[name]
            for name in ("title", "reason", "ticket_id", "status", "members", "change_reason")
        }


class CaseFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Investigation.Status.choices], required=False)
    scope = forms.ChoiceField(choices=[("mine", "Mine"), ("all", "All")], required=False)


class EvidenceAddForm(forms.Form):
    """kind, value (repeatable), label (repeatable, same order), message_id (repeatable, same order,
    optional: a message's Message-ID header), note, case (default: the current one), next."""

    kind = forms.ChoiceField(
        choices=Evidence.Kind.choices, error_messages={"invalid_choice": "Unknown kind of evidence."}
    )
    note = TextField(
        max_length=NOTE_MAX,
        multiline=True,
        what="The note",
        label="Note",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    case = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    next = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.lists = {"value": [], "label": [], "message_id": []}
        if data is not None:
            self.lists = {name: data.getlist(name) for name in self.lists}

    def clean(self):
        cleaned = super().clean()
        values = [v for v in self.lists["value"] if v.strip()]
        if not values:
            raise forms.ValidationError("Choose at least one item to add.")
        if len(values) > EVIDENCE_MAX:
            raise forms.ValidationError(f"Add at most {EVIDENCE_MAX} items at once.")
        if any(len(v) > 4096 for v in self.lists["label"] + self.lists["message_id"]):
            raise forms.ValidationError("A label is too long.")
        cleaned["values"] = self.lists["value"]
        cleaned["labels"] = self.lists["label"]
        cleaned["message_ids"] = self.lists["message_id"]
        return cleaned


class EvidenceRemoveForm(forms.Form):
    evidence = forms.IntegerField(min_value=1, max_value=2**63 - 1)


class TimelineForm(forms.Form):
    before = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
