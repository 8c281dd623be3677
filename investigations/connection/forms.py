from django import forms

from investigations.connection.services import (
    mimecast_allowed_hosts,
    mimecast_host_label,
    mimecast_secrets_needed,
    mimecast_secrets_saved_elsewhere,
)
from investigations.core.validators import TextField
from investigations.mimecast import MimecastConfigError, validate_base_url
from investigations.mimecast.urls import API1_REGION_HOSTS, API2_HOSTS

REGION_LABELS = {
    "eu": "Europe / UK",
    "de": "Germany",
    "us": "United States",
    "usb": "United States (grid B)",
    "uspcom": "US public sector",
    "ca": "Canada",
    "za": "South Africa",
    "au": "Australia",
    "je": "Offshore (Jersey)",
    "jer": "Offshore (Jersey, jer-api)",
    "sandbox": "Sandbox",
}


def _region_choices():
    choices = [("", "— choose, or enter a URL below —")]
    choices += [(f"https://{API1_REGION_HOSTS[key]}", f"API 1.0 · {label}") for key, label in REGION_LABELS.items()]
    choices += [(f"https://{host}", f"API 2.0 · {key}") for key, host in API2_HOSTS.items()]
    return choices


class MimecastConnectionForm(forms.Form):
    api_version = forms.TypedChoiceField(
        choices=[(1, "API 1.0 (HMAC-signed keys)"), (2, "API 2.0 (OAuth2 client credentials)")],
        coerce=int,
        label="API version",
    )
    region = forms.ChoiceField(choices=_region_choices, required=False, label="Region")
    base_url = TextField(
        max_length=255,
        label="Or a base URL",
        help_text="A Mimecast API host, or the simulator's URL when MIMECAST_ALLOWED_HOSTS lists it.",
    )
    auth_type = forms.ChoiceField(
        choices=[("", "Keys given directly"), ("Basic-Cloud", "Log in: Basic-Cloud"), ("Basic-AD", "Log in: Basic-AD")],
        required=False,
        label="API 1.0 keys",
    )
    app_id = TextField(max_length=255, label="Application ID")
    app_key = forms.CharField(required=False, widget=forms.PasswordInput, label="Application key")
    access_key = forms.CharField(required=False, widget=forms.PasswordInput, label="Access key")
    secret_key = forms.CharField(required=False, widget=forms.PasswordInput, label="Secret key")
    username = TextField(max_length=255, label="Login user name")
    password = forms.CharField(required=False, widget=forms.PasswordInput, label="Login password")
    client_id = TextField(max_length=255, label="Client ID")
    client_secret = forms.CharField(required=False, widget=forms.PasswordInput, label="Client secret")
    verify_ssl = forms.BooleanField(required=False, initial=True, label="Verify TLS certificates")
    active = forms.BooleanField(required=False, initial=True, label="Use these settings (off: use the environment)")

    def __init__(self, *args, stored_secrets=None, secret_hosts=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Which secrets already exist: a blank field then means "keep", and the page shows a mask.
        self.stored_secrets = stored_secrets or {}
        # The base URL each stored secret was saved for: a kept secret only ever goes there.
        self.secret_hosts = secret_hosts or {}

    def _has(self, name):
        return bool(self.cleaned_data.get(name) or self.stored_secrets.get(name))

    def clean(self):
        data = super().clean()
        url = (data.get("base_url") or "").strip() or data.get("region") or ""
        if url:
            try:
                data["base_url"] = validate_base_url(url, mimecast_allowed_hosts())
            except MimecastConfigError as error:
                self.add_error("base_url", error.message)
        else:
            data["base_url"] = ""
        if data.get("api_version") == 1:
            if not data.get("app_id"):
                self.add_error("app_id", "API 1.0 needs the application ID.")
            if not self._has("app_key"):
                self.add_error("app_key", "API 1.0 needs the application key.")
            if data.get("auth_type"):
                if not data.get("username"):
                    self.add_error("username", "Logging in needs a user name.")
                if not self._has("password"):
                    self.add_error("password", "Logging in needs a password.")
            else:
                for name in ("access_key", "secret_key"):
                    if not self._has(name):
                        self.add_error(name, "Give the key, or choose a login type above.")
                if not data.get("base_url") and "base_url" not in self.errors:
                    self.add_error("base_url", "Keys given directly need the region's base URL.")
        elif data.get("api_version") == 2:
            if not data.get("client_id"):
                self.add_error("client_id", "API 2.0 needs the client ID.")
            if not self._has("client_secret"):
                self.add_error("client_secret", "API 2.0 needs the client secret.")
        self._refuse_secrets_saved_for_another_host(data)
        return data

    def _refuse_secrets_saved_for_another_host(self, data):
        """A kept secret is never sent to a host it was not typed for: a new host needs it again."""
        if "base_url" in self.errors or data.get("api_version") not in (1, 2):
            return
        kept = [
            name
            for name in mimecast_secrets_needed(api_version=data["api_version"], auth_type=data.get("auth_type"))
            if not data.get(name) and name not in self.errors
        ]
        for name in mimecast_secrets_saved_elsewhere(
            secret_hosts=self.secret_hosts, base_url=data["base_url"], names=kept
        ):
            self.add_error(
                name,
                f"The stored {self.fields[name].label.lower()} was saved for "
                f"{mimecast_host_label(self.secret_hosts[name])}; type it again to use it with "
                f"{mimecast_host_label(data['base_url'])}.",
            )
