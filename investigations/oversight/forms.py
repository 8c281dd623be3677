from django import forms

from investigations.core.validators import TextField

THRESHOLD_MAX = 1_000_000
REVIEW_HOURS_MAX = 720  # thirty days: longer and the after-review stops being a check


class ApprovalRulesForm(forms.Form):
    flagged_release_approvers = forms.TypedChoiceField(
        choices=[(1, "One approver"), (2, "Two approvers (neither the requester, not the same person twice)")],
        coerce=int,
        label="Releasing a message TTP flagged needs",
    )
    domain_block_admin_threshold = forms.IntegerField(
        min_value=0,
        max_value=THRESHOLD_MAX,
        label="Blocking a domain needs an admin approver when it sent more delivered messages in 30 days than",
        help_text=f"0 to {THRESHOLD_MAX:,}. 0: every domain block with any delivered mail needs an admin.",
        error_messages={
            "invalid": "Give a whole number of messages.",
            "min_value": "Give 0 or more messages.",
            "max_value": f"Give at most {THRESHOLD_MAX:,} messages.",
        },
    )
    break_glass_review_hours = forms.IntegerField(
        min_value=1,
        max_value=REVIEW_HOURS_MAX,
        label="Flag a break-glass action not reviewed after (hours)",
        help_text=f"1 to {REVIEW_HOURS_MAX}.",
        error_messages={
            "invalid": "Give a whole number of hours.",
            "min_value": "Give at least 1 hour.",
            "max_value": f"Give at most {REVIEW_HOURS_MAX} hours.",
        },
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
