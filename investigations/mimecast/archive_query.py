"""Builder for the XML query of /api/archive/search.

All user input is XML-escaped, so a search term can never change the structure of the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from investigations.mimecast.errors import MimecastConfigError
from investigations.mimecast.types import format_datetime

DEFAULT_RETURN_FIELDS = (
    "attachmentcount",
    "status",
    "subject",
    "size",
    "receiveddate",
    "displayfrom",
    "displayfromaddress",
    "id",
    "displayto",
    "displaytoaddresslist",
    "smash",
)
# Relative periods for <date select="..."/>. The contract shows only last_year (XSOAR's default); the
# others are the usual console periods, as the simulator accepts them.
DATE_SELECTS = (
    "today",
    "yesterday",
    "last_week",
    "last_month",
    "last_3_months",
    "last_6_months",
    "last_year",
    "all",
)
_NAME = re.compile(r"^[a-z_]{1,40}$")
MAX_PAGE_SIZE = 100


@dataclass
class ArchiveQuery:
    """Criteria of an archive search. Empty fields are left out of the query."""

    text: str = ""
    subject: str = ""
    body: str = ""
    attachment_text: str = ""
    # Document (attachment) type for <docs select="...">, e.g. "documents", "spreadsheets".
    document_type: str = ""
    from_address: str = ""
    to_address: str = ""
    mailbox: str = ""
    start: datetime | str | None = None
    end: datetime | str | None = None
    # Used when start/end are not given.
    date_select: str = "last_year"
    page_size: int = 25
    start_row: int = 0
    return_fields: tuple[str, ...] = field(default=DEFAULT_RETURN_FIELDS)

    def validate(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise MimecastConfigError(f"The archive search page size must be between 1 and {MAX_PAGE_SIZE}.")
        if self.start_row < 0:
            raise MimecastConfigError("The archive search start row must not be negative.")
        if self.document_type and not _NAME.match(self.document_type):
            raise MimecastConfigError("The archive search document type is not valid.")
        if self.date_select not in DATE_SELECTS:
            raise MimecastConfigError("The archive search time period is not valid.")
        for name in self.return_fields:
            if not _NAME.match(name):
                raise MimecastConfigError("An archive search return field is not valid.")

    def text_expression(self) -> str:
        parts = []
        if self.text.strip():
            parts.append(self.text.strip())
        if self.subject.strip():
            parts.append(f"subject: {self.subject.strip()}")
        if self.body.strip():
            parts.append(f"(body: {self.body.strip()})")
        return " ".join(parts)

    def to_xml(self) -> str:
        self.validate()
        lines = [
            '<?xml version="1.0"?>',
            '<xmlquery trace="iql,muse">',
            f'<metadata query-type="emailarchive" archive="true" active="false" '
            f'page-size="{int(self.page_size)}" startrow="{int(self.start_row)}">',
            "<smartfolders/>",
            "<return-fields>",
            *(f"<return-field>{name}</return-field>" for name in self.return_fields),
            "</return-fields>",
        ]
        if self.mailbox.strip():
            lines += [
                "<mailboxes>",
                f'<mailbox include-aliases="true">{escape(self.mailbox.strip())}</mailbox>',
                "</mailboxes>",
            ]
        lines.append("</metadata>")
        lines.append("<muse>")
        lines.append(f"<text>{escape(self.text_expression())}</text>")
        if self.start or self.end:
            attrs = ""
            if self.start:
                attrs += f" from={quoteattr(format_datetime(self.start))}"
            if self.end:
                attrs += f" to={quoteattr(format_datetime(self.end))}"
            lines.append(f'<date select="between"{attrs}/>')
        else:
            lines.append(f'<date select="{self.date_select}"/>')
        if self.from_address.strip():
            lines.append(f'<sent select="from">{escape(self.from_address.strip())}</sent>')
        if self.to_address.strip():
            lines.append(f'<sent select="to">{escape(self.to_address.strip())}</sent>')
        if not self.from_address.strip() and not self.to_address.strip():
            lines.append("<sent></sent>")
        docs_select = self.document_type or "optional"
        lines.append(f'<docs select="{docs_select}">{escape(self.attachment_text.strip())}</docs>')
        lines.append("<route/>")
        lines.append("</muse>")
        lines.append("</xmlquery>")
        return "\n".join(lines)
