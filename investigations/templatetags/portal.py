from datetime import UTC, datetime
from html import escape

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from investigations.core import labels, links
from investigations.entities.selectors import entity_url

register = template.Library()


_ZONE_NAMES: dict[str, str] = {}


def time_html(value, zone=None):
    """A timestamp in ``zone`` (default the viewer's time zone), with UTC on hover. The dates are
    digits and separators; only the zone's name is escaped. Built from ``isoformat`` (C, no
    locale), not ``strftime``: a 100-row result shows 200 of them."""
    if not value:
        return ""
    utc = value.astimezone(UTC).isoformat(timespec="seconds")
    local = value.astimezone(zone or timezone.get_current_timezone())
    shown = local.isoformat(timespec="seconds")
    name = local.tzname() or ""
    escaped = _ZONE_NAMES.get(name)
    if escaped is None:
        escaped = _ZONE_NAMES[name] = escape(name)
    return mark_safe(  # noqa: S308 (only the zone's name is text, and it is escaped)
        f'<time datetime="{utc}" title="{utc[:10]} {utc[11:19]} UTC">{shown[:10]} {shown[11:19]} {escaped}</time>'
    )


@register.filter
def when(value):
    """A timestamp in the viewer's time zone, with UTC on hover."""
    return time_html(value)


@register.filter
def when_text(value):
    """{{ "2026-11-26T14:03:00Z"|when_text }}: a time kept as ISO text (a request's params, a preview)
    shown as ``when`` shows a datetime; text that is not a time is shown as it is, escaped."""
    if not value:
        return ""
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value).strip().replace("Z", "+00:00"))
    if parsed is None:
        return format_html("{}", value)
    return time_html(parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC))


@register.filter
def action_label(value):
    """{{ event.action|action_label }}: an audit action in words; an unknown one as recorded."""
    return labels.action_label(value)


@register.filter
def actor_label(label, actor_type=""):
    """{{ event.actor_label|actor_label:event.actor_type }}: who acted, in words ("System: remediation
    poller", "Integration: soar")."""
    return labels.actor_label(label, actor_type or "")


@register.filter
def state_label(value):
    return labels.state_label(value)


@register.filter
def outcome_label(value):
    return labels.outcome_label(value)


@register.filter
def kind_label(value):
    return labels.kind_label(value)


@register.filter
def target_label(value):
    return labels.target_label(value)


@register.filter
def policy_party_label(value):
    return labels.policy_party_label(value)


@register.filter
def policy_option_label(value):
    return labels.policy_option_label(value)


@register.filter
def mimecast_code_label(code, message=""):
    return labels.mimecast_code_label(code, message)


@register.filter
def hidden_inputs(values, name):
    """{{ every|hidden_inputs:"every" }}: a hidden input named ``name`` for each value, escaped; one node
    for a list a result page makes hundreds long."""
    name = escape(name)
    return mark_safe("".join(f'<input type="hidden" name="{name}" value="{escape(str(v))}">' for v in values or ()))  # noqa: S308


@register.filter
def get_item(mapping, key):
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


@register.simple_tag
def portal_url(view_name, /, *args, **query):
    """A portal URL with a query string, as links.portal_url builds it:
    {% portal_url 'tools-web-security' window='30d' user=e.user %}."""
    return links.portal_url(view_name, *args, **query)


@register.simple_tag
def entity_link(kind, value, label=None):
    """{% entity_link 'sender' msg.from %}: a link to the entity page, the label (default the
    value) escaped; a value that is empty or not of that kind is shown as plain escaped text."""
    text = value if label in (None, "") else label
    url = entity_url(kind, value) if value else ""
    if not url:
        return format_html("{}", text if text is not None else "")
    return format_html('<a class="entity" href="{}">{}</a>', url, text)


@register.filter(name="entity_url")
def entity_url_filter(value, kind):
    """{{ value|entity_url:'domain' }}: the entity page's address, or "" when there is none."""
    return entity_url(kind, value)
