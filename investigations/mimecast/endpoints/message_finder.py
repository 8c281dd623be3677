"""Message Finder (track and trace): search, and everything Mimecast knows about one message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from investigations.mimecast.envelope import list_in_first, put_window
from investigations.mimecast.errors import MimecastInvalidRequest
from investigations.mimecast.types import MessageInfo, TrackedEmail, parse, parse_list

SEARCH_PATH = "/api/message-finder/search"


def _advanced_options(**criteria: Any) -> dict[str, Any]:
    names = {"sender": "from", "recipient": "to", "subject": "subject", "sender_ip": "senderIP", "route": "route"}
    return {names[k]: v for k, v in criteria.items() if v not in (None, "", [])}


class MessageFinder:
    def search_messages(
        self,
        *,
        message_id: str | None = None,
        sender: str | None = None,
        recipient: str | None = None,
        subject: str | None = None,
        sender_ip: str | None = None,
        route: str | list[str] | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        search_reason: str = "",
    ) -> list[TrackedEmail]:
        """Message Finder (track and trace) search: by message-id, or by sender/recipient/subject/IP/route."""
        advanced = _advanced_options(
            sender=sender, recipient=recipient, subject=subject, sender_ip=sender_ip, route=route
        )
        if message_id and advanced:
            raise MimecastInvalidRequest("Search either by message-id or by sender/recipient/subject/IP, not both.")
        if not message_id and not advanced:
            raise MimecastInvalidRequest("Give a message-id, or at least one of sender, recipient, subject or IP.")
        item: dict[str, Any] = {"messageId": message_id.strip()} if message_id else {}
        put_window(item, start or None, end or None)
        if search_reason:
            item["searchReason"] = search_reason
        if not message_id:
            item["advancedTrackAndTraceOptions"] = advanced
        body = self._call(SEARCH_PATH, item)
        return parse_list(TrackedEmail, list_in_first(body, SEARCH_PATH, "trackedEmails"))

    def get_message_info(self, message_id: str) -> MessageInfo:
        return parse(MessageInfo, self._first("/api/message-finder/get-message-info", {"id": message_id}))
