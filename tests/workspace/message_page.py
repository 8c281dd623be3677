"""The message page as a browser loads it: the shell, then every section it asks htmx to load, each
with the HX-Request header a browser's htmx sends. Tests read the page through this, so they see
what an analyst sees once every section has arrived."""

import re
from dataclasses import dataclass, field
from html import unescape

from django.urls import reverse

# An element the shell (or a section) asks htmx to load as soon as it is on the page.
LOADS = re.compile(r'<[a-z]+ id="([a-z-]+)" hx-get="([^"]+)" hx-trigger="load"')


@dataclass
class MessagePage:
    shell: object
    sections: dict = field(default_factory=dict)

    @property
    def html(self):
        """The shell and the sections' answers, one after another (no swap is done)."""
        parts = [self.shell, *self.sections.values()]
        return "".join(p.content.decode() for p in parts)

    @property
    def content(self):
        return self.html.encode()

    @property
    def context(self):
        """Every template variable of the shell and its sections, the sections' winning."""
        merged = {}
        for response in [self.shell, *self.sections.values()]:
            # One template's context, or a list of them when the answer included others.
            contexts = response.context if isinstance(response.context, list) else [response.context]
            for context in contexts:
                if context is not None:
                    merged.update(context.flatten())
        return merged

    @property
    def status_code(self):
        return self.shell.status_code


def section_urls(html):
    """{the placeholder's id: the section's address} for every section the HTML loads."""
    return {name: unescape(url) for name, url in LOADS.findall(html)}


def load_message_page(client, message_id, *, query=None, status=200):
    """The shell and its sections; every answer's status is checked (the sections' 200: htmx swaps
    only a successful answer)."""
    shell = client.get(reverse("message-detail", args=[message_id]), query or {})
    assert shell.status_code == status, shell.status_code
    page = MessagePage(shell=shell)
    for name, url in section_urls(shell.content.decode()).items():
        response = client.get(url, headers={"HX-Request": "true", "HX-Target": name})
        assert response.status_code == 200, (url, response.status_code)
        page.sections[name] = response
    return page
