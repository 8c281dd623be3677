from datetime import UTC
from html import escape

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from investigations.core import links
from investigations.entities.selectors import entity_url

register = template.Library()


def time_html(value, zone=None):
    """A timestamp in ``zone`` (default the viewer's time zone), with UTC on hover. The dates are
    digits and separators; only the zone's name is escaped."""
    if not value:
        return ""
    local = value.astimezone(zone or timezone.get_current_timezone())
    utc = value.astimezone(UTC)
    return mark_safe(  # noqa: S308 (only the zone's name is text, and it is escaped)
        f'<time datetime="{utc.isoformat(timespec="seconds")}" title="{utc:%Y-%m-%d %H:%M:%S} UTC">'
        f"{local:%Y-%m-%d %H:%M:%S} {escape(local.strftime('%Z'))}</time>"
    )


@register.filter
def when(value):
    """A timestamp in the viewer's time zone, with UTC on hover."""
    return time_html(value)


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
