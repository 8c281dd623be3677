from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from investigations.accounts.services import local_sign_in_allowed, local_sign_in_refuse


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
