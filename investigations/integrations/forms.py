from django import forms
from django.core.exceptions import ValidationError

from investigations.core.validators import TextField
from investigations.models import IntegrationToken

DEFAULT_EXPIRY_DAYS = 90
LONGEST_EXPIRY_DAYS = 730
# What the rate limit may be set to: at least one call a minute, at most a hundred a second.
RATE_LIMIT_BOUNDS = (1, 6000)


class TokenCreateForm(forms.Form):
    name = TextField(
        what="The name",
        required=True,
        max_length=100,
        help_text="What calls with it, e.g. “XSOAR phishing playbook”; the audit trail and approvals queue show it.",
    )
    scopes = forms.MultipleChoiceField(
        choices=IntegrationToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=LONGEST_EXPIRY_DAYS,
        initial=DEFAULT_EXPIRY_DAYS,
        help_text=f"At most {LONGEST_EXPIRY_DAYS} days; a new token replaces it then.",
    )
    rate_limit_per_minute = forms.IntegerField(
        label="Rate limit (calls a minute)",
        min_value=RATE_LIMIT_BOUNDS[0],
        max_value=RATE_LIMIT_BOUNDS[1],
        initial=IntegrationToken._meta.get_field("rate_limit_per_minute").default,
    )

    def clean_name(self):
        name = self.cleaned_data["name"]
        if IntegrationToken.objects.filter(name__iexact=name).exists():
            raise ValidationError("A token by this name exists already; choose another name.")
        return name
