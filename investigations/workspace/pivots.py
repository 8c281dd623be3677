"""Pivots: from a value on a result or the message page to a new track & trace search for it, over the
same time window the analyst was looking at (a preset's name, or the dates) and for the same reason.
The window also rides along on the links to the message page, so a pivot from there keeps it too."""

from html import escape
from urllib.parse import urlencode

from django.urls import reverse

# A value's kind, and the track & trace field it is searched by.
PIVOT_FIELDS = {"sender": "sender", "domain": "sender", "recipient": "recipient", "ip": "sender_ip"}
_TITLES = {
    "sender": "Mail from {} in this time window",
    "domain": "Mail from the domain {} in this time window",
    "recipient": "Mail to {} in this time window",
    "ip": "Mail from the IP address {} in this time window",
}


class Pivots:
    """The pivot links of one page: the window and the reason are encoded once, each link once per value."""

    def __init__(self, window, reason=None):
        self.window = dict(window)
        self.base = reverse("track-trace")
        self.suffix = urlencode({**self.window, **{k: v for k, v in (reason or {}).items() if v}})
        self.window_query = f"?{urlencode(self.window)}" if self.window else ""
        self._links = {}

    def url(self, kind, value):
        """The track & trace search for ``value`` as ``kind``, or "" when there is no value."""
        if not value:
            return ""
        query = urlencode({PIVOT_FIELDS[kind]: value})
        return f"{self.base}?{query}&{self.suffix}" if self.suffix else f"{self.base}?{query}"

    def link(self, kind, value):
        """As HTML: a small search link after the value (drawn by CSS; its title names the search)."""
        key = (kind, value)
        html = self._links.get(key)
        if html is None:
            url = self.url(kind, value)
            title = _TITLES[kind].format(value)
            html = f'<a class="pivot" href="{escape(url)}" title="{escape(title)}"></a>' if url else ""
            self._links[key] = html
        return html

    def urls(self, kind, values):
        """{value: its search} for the values a template lists (the message page's recipients)."""
        return {value: self.url(kind, value) for value in values if value}
