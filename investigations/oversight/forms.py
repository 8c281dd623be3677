from django import forms

from investigations.core.validators import TextField

THRESHOLD_MAX = 1_000_000
REVIEW_HOURS_MAX = 720  # thirty days: longer and the after-review stops being a check


def _count_field(label, help_text, *, unit, min_value, max_value, too_few):
    """A whole number of `unit` within the bounds, every error said in those words."""
    return forms.IntegerField(
        min_value=min_value,
        max_value=max_value,
        label=label,
        help_text=help_text,
        error_messages={
            "invalid": f"Give a whole number of {unit}.",
            "min_value": too_few,
            "max_value": f"Give at most {max_value:,} {unit}.",
        },
    )


class ApprovalRulesForm(forms.Form):
    flagged_release_approvers = forms.TypedChoiceField(
        choices=[(1, "One approver"), (2, "Two approvers (neither the requester, not the same person twice)")],
        coerce=int,
        label="Releasing a message TTP flagged needs",
    )
    domain_block_admin_threshold = _count_field(
        "Blocking a domain needs an admin approver when it sent more delivered messages in 30 days than",
        f"0 to {THRESHOLD_MAX:,}. 0: every domain block with any delivered mail needs an admin.",
        unit="messages",
        min_value=0,
        max_value=THRESHOLD_MAX,
        too_few="Give 0 or more messages.",
    )
    break_glass_review_hours = _count_field(
        "Flag a break-glass action not reviewed after (hours)",
        f"1 to {REVIEW_HOURS_MAX}.",
        unit="hours",
        min_value=1,
        max_value=REVIEW_HOURS_MAX,
        too_few="Give at least 1 hour.",
    )
    reason = TextField(what="The reason", max_length=500, label="Why (recorded in the audit trail)")

    def rule_values(self):
        return {name: self.cleaned_data[name] for name in RULE_FIELDS}


RULE_FIELDS = ("flagged_release_approvers", "domain_block_admin_threshold", "break_glass_review_hours")


class BreakGlassReviewForm(forms.Form):
    note = TextField(
        what="The note",
        multiline=True,
        required=True,
        min_length=3,
        max_length=2000,
        label="Review note",
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={
            "required": "Write what you checked: the note is the review.",
            "min_length": "Write what you checked (at least 3 characters).",
        },
    )
