"""The dashboards' template filters."""

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration(value):
    """{{ age|duration }}: a timedelta in words a person reads at a glance ("3 h 12 min", "2 days 4 h")."""
    if not isinstance(value, timedelta):
        return "—"
    seconds = max(0, int(value.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"
