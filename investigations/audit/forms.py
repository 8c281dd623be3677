"""The audit filter: what an auditor may filter the trail by. Bad input becomes a message next to its
field, never an exception; the selectors receive only the cleaned values (``criteria()``)."""

from html import escape

from django import forms
from django.forms.utils import flatatt
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from investigations.audit.rows import audit_action_options
from investigations.audit.selectors import audit_action_known
from investigations.core.labels import action_label
from investigations.core.validators import TextField, datetime_field
from investigations.models import AUDIT_ACTION_GROUPS, AuditOutcome

FILTER_FIELDS = ("actor", "group", "action", "target_type", "target_id", "outcome", "reason", "since", "until")
_BAD_CURSOR = "That page position is not valid; start again from the newest events."


def _date_field(label, placeholder):
    """A date typed by hand, in ISO order only, read in the viewer's time zone; datetime_field keeps
    it within the years the trail can hold (a year such as 0001 would overflow in the query)."""
    return datetime_field(label, widget=forms.TextInput(attrs={"placeholder": placeholder}))


class ActionSelect(forms.Widget):
    """The action filter as a <select> of every action in words (the code is what it sends), from the
    options made once a process; an action only older events carry, typed into the address, is kept as
    one more option so the filter does not lose it."""

    def render(self, name, value, attrs=None, renderer=None):
        attrs = {k: v for k, v in self.build_attrs(self.attrs, attrs).items() if k != "maxlength"}
        options = audit_action_options()
        value = str(value or "")
        if value:
            plain = f'<option value="{escape(value)}">'
            if plain in options:
                options = options.replace(plain, f'<option value="{escape(value)}" selected>', 1)
            else:
                options = (
                    f'<optgroup label="Other"><option value="{escape(value)}" selected>'
                    f"{escape(action_label(value))}</option></optgroup>{options}"
                )
        return mark_safe(  # noqa: S308 (the name, the value and every option are escaped)
            f'<select name="{escape(name)}"{flatatt(attrs)}><option value="">Any action</option>{options}</select>'
        )


class AuditFilterForm(forms.Form):
    """Every field is optional; free text refuses control and invisible characters."""

    actor = TextField(
        what="The actor",
        max_length=150,
        widget=forms.TextInput(attrs={"placeholder": "username, System: …, Integration: … or anonymous"}),
    )
    group = forms.ChoiceField(
        label="Kind of action",
        required=False,
        choices=[("", "Any kind"), *((g, g.capitalize()) for g in AUDIT_ACTION_GROUPS)],
    )
    action = TextField(
        what="The action",
        label="Action",
        max_length=64,
        widget=ActionSelect,
    )
    target_type = TextField(
        what="The target type",
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "message, remediationrequest…"}),
    )
    target_id = TextField(what="The target id", label="Target id", max_length=255)
    outcome = forms.ChoiceField(required=False, choices=[("", "Any outcome"), *AuditOutcome.choices])
    reason = TextField(
        what="The reason", label="Reason contains", max_length=200, widget=forms.TextInput(attrs={"type": "search"})
    )
    since = _date_field("From", "2026-03-01 14:30")
    until = _date_field("Until", "2026-03-31")
    # The keyset cursor: events older than this seq. Carried by the "older events" link only, never
    # by the filter form (a new filter starts at the newest event), but validated all the same.
    before = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)

    def clean_action(self):
        action = self.cleaned_data["action"]
        if action and not audit_action_known(action):
            raise forms.ValidationError(f"No event has the action “{action}”. Pick one from the list.")
        return action

    def clean_target_type(self):
        return self.cleaned_data["target_type"].lower()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("target_id") and not cleaned.get("target_type"):
            self.add_error("target_type", "Give the target type too (for example message or remediationrequest).")
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end of the time range is before its start.")
        if "before" in self.errors:
            # A hand-edited or stale cursor: say so in words, not Django's "Enter a whole number".
            self.errors["before"] = self.error_class([_BAD_CURSOR])
        return cleaned

    def criteria(self):
        """The valid filter values, without the cursor: what an export or a timeline carries."""
        return {name: self.cleaned_data.get(name) for name in FILTER_FIELDS if self.cleaned_data.get(name)}

    def query_string(self):
        """The filter as the user typed it, to put in links (next page, exports) and the address bar."""
        return urlencode([(name, self.data.get(name)) for name in FILTER_FIELDS if self.data.get(name)])

    def described(self):
        """The filter as plain strings, for the audit event and the export's first line."""
        return {name: str(self.data.get(name)) for name in FILTER_FIELDS if self.data.get(name)}
