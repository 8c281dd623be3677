from datetime import UTC
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from investigations.core import links
from investigations.entities.selectors import clean_entity

register = template.Library()


@register.filter
def when(value):
    """A timestamp in the viewer's time zone, with UTC on hover."""
    if not value:
        return ""
    local = timezone.localtime(value)
    utc = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        utc.isoformat(timespec="seconds"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )


@register.filter
def get_item(mapping, key):
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


@register.simple_tag
def portal_url(view_name, /, *args, **query):
    """A portal URL with a query string, as links.portal_url builds it:
    {% portal_url 'tools-web-security' window='30d' user=e.user %}."""
    return links.portal_url(view_name, *args, **query)


def entity_url(kind, value):
    """The entity page of ``value``, or "" when it is not a valid value of ``kind``. The value is
    quoted whole (slashes too), so a URL's "//", "?" and "#" survive the trip as one path segment."""
    cleaned = clean_entity(kind, value)
    if cleaned is None:
        return ""
    base = reverse("entity", kwargs={"kind": kind, "value": "-"})
    return f"{base[: -len('-/')]}{quote(cleaned, safe='@')}/"


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
