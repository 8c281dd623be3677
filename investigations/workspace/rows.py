"""The track & trace result rows, built in Python: a 100-row result is the portal's hottest page, and
the template engine spent most of the page's time on these rows (about 25 nodes and four
``reverse()`` calls a row). The markup is the one the template had, cell for cell. Every value from
Mimecast is escaped here (``html.escape`` with quotes, which is Django's ``escape``), so HTML in a
subject, a name or an address is shown, never run."""

from html import escape
from urllib.parse import quote

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.safestring import mark_safe
from django.utils.text import slugify

from investigations.entities.selectors import entity_url_maker
from investigations.templatetags.portal import time_html

# reverse()'s own quoting of a path argument (django.urls.resolvers: RFC 3986 sub-delimiters kept).
_PATH_SAFE = "!$&'()*+,;=/~:@"


class _Page:
    """What every row of one page shares: the viewer's time zone, the link builders, the selection."""

    def __init__(self, picks, selectable):
        self.zone = timezone.get_current_timezone()
        self.entity_url = entity_url_maker()
        self.message_base = reverse("message-detail", args=["-"])[: -len("-/")]
        self.picks = picks
        self.selectable = selectable
        self.links = {}

    def entity(self, kind, value):
        """As the ``entity_link`` tag: a link to the entity page, or the value as text. Built once per
        value and kind: a result repeats its senders, recipients and IP addresses."""
        key = (kind, value)
        html = self.links.get(key)
        if html is None:
            url = self.entity_url(kind, value) if value else ""
            html = f'<a class="entity" href="{escape(url)}">{escape(value)}</a>' if url else escape(value or "")
            self.links[key] = html
        return html

    def message_url(self, message_id):
        """As reverse("message-detail", args=[message_id]), the id quoted as reverse() quotes it; an id
        that reverse() would refuse (a slash) still goes through reverse()."""
        if "/" in message_id:
            return reverse("message-detail", args=[message_id])
        return f"{self.message_base}{quote(message_id, safe=_PATH_SAFE)}/"

    def row(self, r):
        return (
            "\n      <tr>\n"
            f"        {self.picks_cell(r) if self.selectable else ''}\n"
            f'        <td><span class="status status-{escape(slugify(r.status))}" title="{escape(r.info)}">'
            f"{escape(r.status)}</span></td>\n"
            f"        <td>{self.from_cell(r)}</td>\n"
            f"        <td>{self.to_cell(r)}</td>\n"
            f"        <td>{self.subject_cell(r)}</td>\n"
            f"        <td>{time_html(r.sent, self.zone)}</td>\n"
            f"        <td>{time_html(r.received, self.zone)}</td>\n"
            f"        <td>{escape(r.route)}</td>\n"
            f"        <td><code>{self.entity('ip', r.sender_ip)}</code></td>\n"
            f"        <td>{'yes' if r.attachments else ''}</td>\n"
            f'        <td class="num">{self.spam_cell(r)}</td>\n'
            "      </tr>\n    "
        )

    def picks_cell(self, r):
        boxes = "".join(
            f'<input type="checkbox" name="value" value="{escape(c["value"])}" data-select-row form="tt-selection" '
            f'aria-label="Select the copy in {escape(c["mailbox"])}" title="{escape(c["mailbox"])}">'
            for c in self.picks.get(r.id, ())
        )
        return f"<td>{boxes}</td>"

    def from_cell(self, r):
        # As the template compared them: a missing header address differs from any envelope address.
        header = r.from_hdr.email_address if r.from_hdr is not None else None
        cell = ""
        if r.from_hdr is not None:
            cell = f'<span title="{escape(r.from_hdr.displayable_name)}">{self.entity("sender", header)}</span>'
        if r.from_env is not None and r.from_env.email_address != header:
            cell += f'<div class="muted small">env: {self.entity("sender", r.from_env.email_address)}</div>'
        return cell

    def to_cell(self, r):
        cell = "".join(
            f'<div title="{escape(t.displayable_name)}">{self.entity("recipient", t.email_address)}</div>'
            for t in r.to[:3]
        )
        if len(r.to) > 3:
            cell += f'<div class="muted small">+{len(r.to) - 3} more</div>'
        return cell

    def subject_cell(self, r):
        if not r.id:
            return escape(r.subject)
        return f'<a href="{escape(self.message_url(r.id))}" class="msg-link">{escape(r.subject or "(no subject)")}</a>'

    def spam_cell(self, r):
        cell = "" if r.spam_score is None else escape(str(localize(r.spam_score)))
        if r.detection_level:
            cell += f' <span class="muted small">{escape(r.detection_level)}</span>'
        return cell


def track_trace_rows(rows, picks, *, selectable):
    """The <tr> of each row. ``picks`` maps a row's id to its copies (the selection checkboxes),
    shown when ``selectable``."""
    page = _Page(picks, selectable)
    return mark_safe("".join(page.row(r) for r in rows))  # noqa: S308 (each value escaped above)
