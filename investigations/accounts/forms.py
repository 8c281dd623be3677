from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from investigations.accounts.mfa import CODE_MAX_LENGTH
from investigations.accounts.services import local_sign_in_allowed, local_sign_in_refuse
from investigations.core.roles import ALL_ROLES
from investigations.core.validators import EmailField


class SignInForm(AuthenticationForm):
    """Django's sign-in form, with a username no account can have refused before anything looks it
    up: Django sets the field's max_length without its validator, so a huge name would reach the
    sign-in lockout's tables (255 characters) and fail there. Refused with the message of any wrong
    sign-in, so it tells nothing about which names exist."""

    def clean(self):
        username = self.cleaned_data.get("username")
        too_long = username is not None and len(username) > self.fields["username"].max_length
        if too_long or "username" in self.errors:
            raise self.get_invalid_login_error()
        # Refused before the password is checked: with local sign-in off, no password but a break-glass
        # account's is worth guessing here, and the refusal says so whatever was typed.
        if username is not None and not local_sign_in_allowed(username):
            raise ValidationError(local_sign_in_refuse(username=username), code="local_sign_in_off")
        return super().clean()

    def confirm_login_allowed(self, user):
        # An integration token's service identity calls the API with its token and never signs in
        # here, whatever password someone may have given it; refused like any wrong sign-in.
        if getattr(user, "is_integration", False):
            raise self.get_invalid_login_error()
        super().confirm_login_allowed(user)


# ------------------------------------------------------------------------------ two-step sign-in


class StepUpForm(forms.Form):
    """The proof fields a decision's form carries (accounts.stepup reads them): the password for a
    user without two-step sign-in, else a code from the authenticator app or a recovery code. The
    partial templates/accounts/_step_up.html renders the one that applies."""

    password = forms.CharField(required=False, strip=False, max_length=4096, widget=forms.PasswordInput)
    otp_code = forms.CharField(required=False, max_length=CODE_MAX_LENGTH)


class SecondFactorForm(forms.Form):
    """The second step of a sign-in: a code from the authenticator app, or a recovery code."""

    otp_code = forms.CharField(
        label="Code from your authenticator app, or a recovery code",
        max_length=CODE_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
        error_messages={"required": "Type the code your authenticator app shows, or one of your recovery codes."},
    )


class TotpConfirmForm(forms.Form):
    """Confirms a new authenticator app: the device being set up and a code it shows now."""

    device = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)
    otp_code = forms.CharField(
        label="The six-digit code the app shows now",
        max_length=CODE_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        error_messages={"required": "Type the six digits the app shows now."},
    )


class MfaDeviceRemoveForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("totp", "Authenticator app"), ("passkey", "Passkey"), ("recovery", "Recovery codes")]
    )
    device = forms.IntegerField(min_value=1, max_value=2**31 - 1)


# ------------------------------------------------------------------------------- the users page


def _roles_field():
    return forms.MultipleChoiceField(
        choices=[(role, role) for role in ALL_ROLES], required=False, widget=forms.CheckboxSelectMultiple
    )


class UserCreateForm(StepUpForm):
    username = forms.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = EmailField(required=True, max_length=254)
    roles = _roles_field()
    field_order = ["username", "email", "roles"]

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise ValidationError("A user with that name exists already.", code="taken")
        return username


class UserRolesForm(StepUpForm):
    roles = _roles_field()
