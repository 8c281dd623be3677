"""Archive: search, message lists and details, and downloads of messages and attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Unpack

from investigations.mimecast.archive_query import ArchiveQuery
from investigations.mimecast.envelope import Paged, Paging, put, put_window
from investigations.mimecast.errors import MimecastInvalidRequest
from investigations.mimecast.types import (
    ArchiveMessage,
    ArchiveMessageDetail,
    ArchiveSearchItem,
    BinaryContent,
    Page,
    parse,
)

SEARCH = Paged("/api/archive/search", ArchiveSearchItem, key="items", send_page_size=False)
MESSAGE_LIST = Paged("/api/archive/get-message-list", ArchiveMessage)


class Archive:
    def archive_search(
        self, query: ArchiveQuery, *, admin: bool = False, page_token: str | None = None
    ) -> Page[ArchiveSearchItem]:
        """Archive search; ``admin`` searches the whole archive, otherwise the user's own mail.
        Page size and start row travel in the XML query; ``page_token`` in meta.pagination."""
        return self._page(SEARCH, {"admin": bool(admin), "query": query.to_xml()}, query.page_size, page_token)

    def get_archive_message_list(
        self,
        *,
        view: str = "INBOX",
        mailbox: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        include_delegates: bool | None = None,
        include_aliases: bool | None = None,
        **paging: Unpack[Paging],
    ) -> Page[ArchiveMessage]:
        if view not in ("INBOX", "SENT"):
            raise MimecastInvalidRequest("The archive view must be INBOX or SENT.")
        item: dict[str, Any] = {"view": view}
        put(item, "mailbox", mailbox)
        put_window(item, start, end)
        put(item, "includeDelegates", include_delegates)
        put(item, "includeAliases", include_aliases)
        return self._page(MESSAGE_LIST, item, **paging)

    def get_archive_message_detail(self, message_id: str) -> ArchiveMessageDetail:
        return parse(ArchiveMessageDetail, self._first("/api/archive/get-message-detail", {"id": message_id}))

    def get_message_part(
        self, message_id: str, *, context: str = "RECEIVED", part_type: str = "RFC822", mailbox: str | None = None
    ) -> BinaryContent:
        """Download a message as RFC822 (.eml), HTML or PLAIN, as received or as delivered."""
        if context not in ("RECEIVED", "DELIVERED"):
            raise MimecastInvalidRequest("The message context must be RECEIVED or DELIVERED.")
        if part_type not in ("RFC822", "HTML", "PLAIN", "TRANSMISSION_MESSAGE_BODY"):
            raise MimecastInvalidRequest("The message part type must be RFC822, HTML or PLAIN.")
        item: dict[str, Any] = {"id": message_id, "context": context, "type": part_type}
        put(item, "mailbox", mailbox)
        return self._download("/api/archive/get-message-part", item)

    def get_file(self, attachment_id: str) -> BinaryContent:
        """Download an attachment by the id from get-message-detail's attachments[]."""
        return self._download("/api/archive/get-file", {"id": attachment_id})
