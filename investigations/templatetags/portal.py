from datetime import UTC

from django import template
from django.utils import timezone
from django.utils.html import format_html

from investigations.core import links

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
