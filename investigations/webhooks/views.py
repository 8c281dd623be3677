"""The admins' webhook pages: endpoints, their signing secrets (shown once), and the delivery log."""

from django.contrib import messages
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from investigations.core.htmx import client_redirect, render_page
from investigations.core.http import found_or_404
from investigations.core.links import pager_links
from investigations.core.routes import Routes
from investigations.webhooks import selectors, services
from investigations.webhooks.forms import DeliveryFilterForm, WebhookEndpointForm

routes = Routes()

RECENT_DELIVERIES = 20


def _endpoint_or_404(endpoint_id):
    return found_or_404(
        selectors.webhook_endpoint_get(endpoint_id=endpoint_id), "No webhook endpoint with that number."
    )


def _never_cached(response):
    """A page that shows a signing secret is the answer to the POST itself (the secret is never kept
    in the session or put in a redirect) and must not be stored by a browser or a proxy."""
    add_never_cache_headers(response)
    return response


@routes("", name="webhook-list", capability="admin_settings", methods=["GET", "POST"])
def webhook_list(request):
    if request.method == "POST":
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            endpoint, secret = services.webhook_endpoint_create(actor=request.user, **form.cleaned_data)
            context = {"endpoint": endpoint, "secret": secret, "form": WebhookEndpointForm()}
            return _never_cached(
                render_page(request, "webhooks/endpoints.html", {**context, "endpoints": _endpoints()})
            )
        status = 400
    else:
        form, status = WebhookEndpointForm(), 200
    context = {"form": form, "endpoints": _endpoints()}
    return render_page(request, "webhooks/endpoints.html", context, status=status)


def _endpoints():
    return selectors.webhook_endpoint_list()


@routes("<int:endpoint_id>/", name="webhook-detail", capability="admin_settings", methods=["GET", "POST"])
def webhook_detail(request, endpoint_id):
    endpoint = _endpoint_or_404(endpoint_id)
    if request.method == "POST":
        form = WebhookEndpointForm(request.POST, endpoint=endpoint)
        if form.is_valid():
            _, changed = services.webhook_endpoint_update(
                actor=request.user, endpoint_id=endpoint.pk, **form.cleaned_data
            )
            messages.success(request, f"Saved ({', '.join(changed)} changed)." if changed else "Nothing changed.")
            return client_redirect(request, reverse("webhook-detail", args=[endpoint.pk]))
        return _detail_page(request, endpoint, form=form, status=400)
    return _detail_page(request, endpoint)


def _initial(endpoint):
    return {"name": endpoint.name, "url": endpoint.url, "active": endpoint.active}


def _detail_page(request, endpoint, *, form=None, secret="", status=200):
    deliveries, _ = selectors.webhook_deliveries_page(endpoint_id=endpoint.pk, size=RECENT_DELIVERIES)
    context = {
        "endpoint": endpoint,
        "form": form or WebhookEndpointForm(initial=_initial(endpoint), endpoint=endpoint),
        "deliveries": deliveries,
        "secret": secret,
    }
    response = render_page(request, "webhooks/endpoint.html", context, status=status)
    if secret:
        _never_cached(response)
    return response


@routes("<int:endpoint_id>/rotate/", name="webhook-rotate", capability="admin_settings", methods=["POST"])
def webhook_rotate(request, endpoint_id):
    endpoint, secret = services.webhook_endpoint_rotate(
        actor=request.user, endpoint_id=_endpoint_or_404(endpoint_id).pk
    )
    return _detail_page(request, endpoint, secret=secret)


@routes("<int:endpoint_id>/delete/", name="webhook-delete", capability="admin_settings", methods=["POST"])
def webhook_delete(request, endpoint_id):
    endpoint = _endpoint_or_404(endpoint_id)
    services.webhook_endpoint_delete(actor=request.user, endpoint_id=endpoint.pk)
    messages.success(request, f"Endpoint “{endpoint.name}” deleted.")
    return client_redirect(request, reverse("webhook-list"))


@routes("<int:endpoint_id>/test/", name="webhook-test", capability="admin_settings", methods=["POST"])
def webhook_test(request, endpoint_id):
    endpoint = _endpoint_or_404(endpoint_id)
    delivery = services.webhook_endpoint_test(actor=request.user, endpoint_id=endpoint.pk)
    messages.success(request, f"Test event {delivery.event_id} queued; its outcome shows in the log below.")
    return client_redirect(request, reverse("webhook-detail", args=[endpoint.pk]))


@routes("deliveries/", name="webhook-deliveries", capability="admin_settings", methods=["GET"])
def webhook_deliveries(request):
    form = DeliveryFilterForm(request.GET or None)
    rows, next_page = [], None
    if not form.is_bound or form.is_valid():
        criteria = form.cleaned_data if form.is_bound else {}
        endpoint = criteria.get("endpoint")
        rows, next_page = selectors.webhook_deliveries_page(
            endpoint_id=endpoint.pk if endpoint else None, state=criteria.get("state", ""), before=criteria.get("page")
        )
    context = {"form": form, "rows": rows, **pager_links(request, next_page)}
    return render_page(request, "webhooks/deliveries.html", context, partial="log")
