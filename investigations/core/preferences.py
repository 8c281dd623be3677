"""A signed-in user's display preferences (for now the colour theme), kept on their user row."""

from django import forms

from investigations.models import Theme


class ThemeForm(forms.Form):
    theme = forms.ChoiceField(
        choices=Theme.choices, error_messages={"invalid_choice": "Choose a theme: system, light or dark."}
    )
    next = forms.CharField(required=False, max_length=2000)


def user_theme_set(*, user, theme):
    """Save ``theme`` as the user's choice. Only the one column is written: a theme is no reason to
    touch the rest of the user's row (their password, roles or last sign-in)."""
    user.theme = Theme(theme)
    user.save(update_fields=["theme"])
    return user.theme
