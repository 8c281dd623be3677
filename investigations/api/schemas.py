"""Schemas more than one of the API's routers answers with: a page of a list, and a message as a row
of a search. A route's own shapes live beside it, in its router module.

Times are ``datetime`` values with their zone, so they leave as ISO 8601 with an offset. Text that
came from an email (subjects, names, header values) is returned as it is, as JSON strings: a client
that shows it in HTML must escape it, as the portal's pages do.
"""

from datetime import datetime
from typing import Generic, TypeVar

from ninja import Field, Schema

T = TypeVar("T")


class Page(Schema, Generic[T]):
    """One page of a list. ``next`` is the cursor of the following page, null on the last one: pass
    it back as the route's cursor parameter (a list is never answered unbounded)."""

    items: list[T]
    next: str | None = Field(None, description="The cursor of the next page; null when this is the last page.")


class MessageSummary(Schema):
    """A message as a search lists it."""

    id: str = Field(description="Mimecast's id of the message: the one the message detail route takes.")
    subject: str
    sender: str = Field(description="The From address (the header's, else the envelope's).")
    recipients: list[str]
    received: datetime | None = None
    status: str
