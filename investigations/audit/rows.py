"""The rows of the audit list and of a target's timeline, built in Python: at 50 to 200 events a page
the template engine spent most of the page's time on them (about 20 nodes, a filtered timestamp and
two ``reverse()`` calls a row). The markup is the one the templates had, cell for cell. Every recorded
value is escaped here (``html.escape`` with quotes, which is Django's ``escape``), so HTML in a reason,
a label or a target id is shown, never run."""

from functools import cache
from html import escape
from urllib.parse import quote

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from investigations.audit.selectors import audit_action_names
from investigations.core.labels import action_label, actor_label, outcome_label
from investigations.models import audit_action_group
from investigations.templatetags.portal import time_html

# reverse()'s own quoting of a path argument (django.urls.resolvers: RFC 3986 sub-delimiters kept).
_PATH_SAFE = "!$&'()*+,;=/~:@"


class _Links:
    """The two links every row has, each reversed once a page rather than once a row."""

    def __init__(self):
        self.event_base = reverse("audit-event", args=[1])[: -len("1/")]
        self.timeline_base = reverse("audit-timeline", args=["t", "-"])[: -len("t/-/")]

    def event(self, seq):
        return f"{self.event_base}{seq}/"

    def timeline(self, target_type, target_id):
        """As reverse("audit-timeline", ...) quotes it; "" for a type the route cannot hold (a slash)."""
        if "/" in target_type:
            return ""
        return f"{self.timeline_base}{quote(target_type, safe=_PATH_SAFE)}/{quote(target_id, safe=_PATH_SAFE)}/"


def _chars(text, length):
    """As the truncatechars filter; a short ASCII text (most are, and ASCII is its own NFC form) skips
    Truncator's work."""
    return text if len(text) <= length and text.isascii() else Truncator(text).chars(length)


def _target_cell(links, e):
    if e.target_type and e.target_id:
        url = links.timeline(e.target_type, e.target_id)
        text = f"{escape(e.target_type)}:{escape(_chars(e.target_id, 48))}"
        if url:
            return f'<a href="{escape(url)}" title="Every event about this target">{text}</a>'
        return text
    return escape(e.target_type)


def _actor_cell(e):
    """Who acted, in words, with the recorded label on hover when the words differ from it."""
    words = actor_label(e.actor_label, e.actor_type)
    if not e.actor_label or words == e.actor_label:
        return escape(words)
    return f'<span title="{escape(e.actor_label)}">{escape(words)}</span>'


def _action_cell(action):
    """The action in words, its code beside it (what the filter and the exports match on)."""
    words = action_label(action)
    if words == action:
        return f"<code>{escape(action)}</code>"
    return f'{escape(words)} <code class="muted small">{escape(action)}</code>'


def _outcome_cell(outcome):
    return f'<span class="badge badge-{escape(outcome)}">{escape(outcome_label(outcome))}</span>'


def audit_list_rows(events):
    """The audit list's rows for these events, as one safe string."""
    links, zone = _Links(), timezone.get_current_timezone()
    return mark_safe(  # noqa: S308 (every recorded value is escaped above and here)
        "".join(
            "\n    <tr>\n"
            f'      <td class="num"><a href="{links.event(e.seq)}" title="Event detail">{e.seq}</a></td>\n'
            f'      <td class="nowrap">{time_html(e.created_at, zone)}</td>\n'
            f"      <td>{_actor_cell(e)}</td>\n"
            f"      <td>{_action_cell(e.action)}</td>\n"
            f"      <td>{_target_cell(links, e)}</td>\n"
            f"      <td>{_outcome_cell(e.outcome)}</td>\n"
            f"      <td>{escape(e.client_ip or '')}</td>\n"
            f'      <td class="reason">{escape(_chars(e.reason, 100))}</td>\n'
            "    </tr>"
            for e in events
        )
    )


def audit_timeline_rows(events):
    """A target's timeline rows for these events, as one safe string."""
    links, zone = _Links(), timezone.get_current_timezone()
    return mark_safe(  # noqa: S308 (every recorded value is escaped here)
        "".join(
            "\n    <tr>\n"
            f'      <td class="num"><a href="{links.event(e.seq)}">{e.seq}</a></td>\n'
            f'      <td class="nowrap">{time_html(e.created_at, zone)}</td>\n'
            f"      <td>{_actor_cell(e)}</td>\n"
            f"      <td>{_action_cell(e.action)}</td>\n"
            f"      <td>{_outcome_cell(e.outcome)}</td>\n"
            f'      <td class="reason">{escape(_chars(e.reason, 160))}</td>\n'
            "    </tr>"
            for e in events
        )
    )


@cache
def audit_action_options():
    """The action field's choices as <option>s, in words, one <optgroup> per kind of action (the code is
    the value the filter sends): the same on every page, so made once a process."""
    parts, current = [], None
    for name in audit_action_names():
        group = audit_action_group(name) or "other"
        if group != current:
            parts.append(("</optgroup>" if current else "") + f'<optgroup label="{escape(group.capitalize())}">')
            current = group
        parts.append(f'<option value="{escape(name)}">{escape(action_label(name))}</option>')
    if current:
        parts.append("</optgroup>")
    return mark_safe("".join(parts))  # noqa: S308 (every name and label escaped)
