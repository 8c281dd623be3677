"""The track & trace result rows, built in Python: a 100-row result is the portal's hottest page, and
the template engine spent most of the page's time on these rows (about 25 nodes and four
``reverse()`` calls a row). Each row is one line: long addresses and subjects are cut by the
stylesheet with the whole value in ``title``, the envelope sender and further recipients ride in
titles too. Every value from Mimecast is escaped here (``html.escape`` with quotes, which is
Django's ``escape``), so HTML in a subject, a name or an address is shown, never run."""

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
# How many further recipients a row's "+N" title names.
_MORE_NAMED = 20


class _Page:
    """What every row of one page shares: the viewer's time zone, the link builders, the selection."""

    def __init__(self, picks, selectable, pivots):
        self.zone = timezone.get_current_timezone()
        self.entity_url = entity_url_maker()
        self.message_base = reverse("message-detail", args=["-"])[: -len("-/")]
        self.picks = picks
        self.selectable = selectable
        self.pivots = pivots
        # The message page learns the window of the search it was opened from (its pivots keep it).
        self.message_query = escape(pivots.window_query) if pivots is not None else ""
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

    def pivot(self, kind, value):
        return self.pivots.link(kind, value) if self.pivots is not None else ""

    def message_url(self, message_id):
        """As reverse("message-detail", args=[message_id]), the id quoted as reverse() quotes it; an id
        that reverse() would refuse (a slash) still goes through reverse()."""
        if "/" in message_id:
            return reverse("message-detail", args=[message_id])
        return f"{self.message_base}{quote(message_id, safe=_PATH_SAFE)}/"

    def row(self, r):
        return (
            "<tr>"
            f"{self.picks_cell(r) if self.selectable else ''}"
            f'<td><span class="status status-{escape(slugify(r.status))}" title="{escape(r.info)}">'
            f"{escape(r.status)}</span></td>"
            f'<td class="cut addr">{self.from_cell(r)}</td>'
            f'<td class="cut addr">{self.to_cell(r)}</td>'
            f"{self.subject_cell(r)}"
            f"<td>{time_html(r.sent, self.zone)}</td>"
            f"<td>{time_html(r.received, self.zone)}</td>"
            f"<td>{escape(r.route)}</td>"
            f"<td><code>{self.entity('ip', r.sender_ip)}</code>{self.pivot('ip', r.sender_ip)}</td>"
            f"<td>{'yes' if r.attachments else ''}</td>"
            f'<td class="num">{self.spam_cell(r)}</td>'
            "</tr>\n"
        )

    def picks_cell(self, r):
        boxes = "".join(
            f'<input type="checkbox" name="value" value="{escape(c["value"])}" data-select-row form="tt-selection" '
            f'aria-label="Select the copy in {escape(c["mailbox"])}" title="{escape(c["mailbox"])}">'
            for c in self.picks.get(r.id, ())
        )
        return f"<td>{boxes}</td>"

    def from_cell(self, r):
        """The header sender, its display name in the title; an envelope sender that differs is marked,
        and named in the mark's title (it is the one a spoofed header hides)."""
        header = r.from_hdr.email_address if r.from_hdr is not None else None
        envelope = r.from_env.email_address if r.from_env is not None else None
        if r.from_hdr is not None:
            shown, title = header, r.from_hdr.displayable_name
        elif envelope:
            shown, title = envelope, "Envelope sender"
        else:
            return ""
        mark = ""
        if r.from_hdr is not None and envelope and envelope != header:
            mark = f'<span class="env-mark" title="Envelope sender: {escape(envelope)}">env</span>'
        return (
            f'<div class="cell"><span class="truncate" title="{escape(title)}">{self.entity("sender", shown)}</span>'
            f"{self.pivot('sender', shown)}{mark}</div>"
        )

    def to_cell(self, r):
        """The first recipient; the others counted, and named in the count's title."""
        if not r.to:
            return ""
        first = r.to[0]
        more = ""
        if len(r.to) > 1:
            others = ", ".join(t.email_address for t in r.to[1 : 1 + _MORE_NAMED])
            unnamed = len(r.to) - 1 - _MORE_NAMED
            title = f"{others} and {unnamed} more" if unnamed > 0 else others
            more = f'<span class="more" title="{escape(title)}">+{len(r.to) - 1}</span>'
        return (
            f'<div class="cell"><span class="truncate" title="{escape(first.displayable_name)}">'
            f"{self.entity('recipient', first.email_address)}</span>"
            f"{self.pivot('recipient', first.email_address)}{more}</div>"
        )

    def subject_cell(self, r):
        """The subject, linked to the message page (with the window the pivots there keep); the whole
        subject in the cell's title, as the stylesheet cuts a long one."""
        if not r.id:
            return f'<td class="cut subj" title="{escape(r.subject)}">{escape(r.subject)}</td>'
        subject = escape(r.subject or "(no subject)")
        url = escape(self.message_url(r.id)) + self.message_query
        return f'<td class="cut subj" title="{subject}"><a href="{url}" class="msg-link">{subject}</a></td>'

    def spam_cell(self, r):
        cell = "" if r.spam_score is None else escape(str(localize(r.spam_score)))
        if r.detection_level:
            cell += f' <span class="muted small">{escape(r.detection_level)}</span>'
        return cell


def track_trace_rows(rows, picks, *, selectable, pivots=None):
    """The <tr> of each row. ``picks`` maps a row's id to its copies (the selection checkboxes),
    shown when ``selectable``; ``pivots`` (workspace.pivots.Pivots) adds the search links that keep
    the window, and the window to the message links."""
    page = _Page(picks, selectable, pivots)
    return mark_safe("".join(page.row(r) for r in rows))  # noqa: S308 (each value escaped above)
