from django import forms
from django.core.exceptions import ValidationError

from investigations.core.validators import TextField, TokenField
from investigations.models import WebhookDelivery, WebhookEndpoint
from investigations.webhooks.services import URL_MAX, WebhookUrlRefused, webhook_url_check


class WebhookEndpointForm(forms.Form):
    """An endpoint's name, receiver URL and state, for creating and changing one."""

    name = TextField(what="The name", max_length=100, required=True, label="Name", help_text="e.g. Cortex XSOAR")
    url = TextField(
        what="The URL",
        max_length=URL_MAX,
        required=True,
        label="Receiver URL",
        help_text="https only; the host must resolve to public addresses.",
    )
    active = forms.BooleanField(required=False, initial=True, label="Active (send events to it)")

    def __init__(self, *args, endpoint=None, **kwargs):
        self.endpoint = endpoint
        super().__init__(*args, **kwargs)

    def clean_name(self):
        name = self.cleaned_data["name"]
        taken = WebhookEndpoint.objects.filter(name=name)
        if self.endpoint is not None:
            taken = taken.exclude(pk=self.endpoint.pk)
        if taken.exists():
            raise ValidationError("Another endpoint has this name; choose another.")
        return name

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            webhook_url_check(url)
        except WebhookUrlRefused as refusal:
            raise ValidationError(str(refusal)) from None
        return url


class DeliveryFilterForm(forms.Form):
    """The delivery log's filters and its page cursor (a GET form: a filtered log is a URL)."""

    endpoint = forms.ModelChoiceField(
        queryset=WebhookEndpoint.objects.all(), required=False, empty_label="All endpoints", label="Endpoint"
    )
    state = forms.ChoiceField(choices=[("", "Any state"), *WebhookDelivery.State.choices], required=False)
    page = TokenField(required=False, widget=forms.HiddenInput)

    def clean_page(self):
        page = self.cleaned_data["page"]
        if page and (not page.isdigit() or len(page) > 18):
            raise ValidationError("This page link is damaged; open the log again.")
        return int(page) if page else None
