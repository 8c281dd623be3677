"""The Mimecast API client.

``MimecastClient`` is the one object callers use: the transport (signing, retries, re-authentication,
pacing, error mapping; see ``transport``) with one mixin per group of the API in ``endpoints``. Each
public method builds the request, calls it and returns the parsed types of ``types``.
"""

from __future__ import annotations

from investigations.mimecast.endpoints.archive import Archive
from investigations.mimecast.endpoints.awareness import Awareness
from investigations.mimecast.endpoints.directory import Directory
from investigations.mimecast.endpoints.gateway import Gateway
from investigations.mimecast.endpoints.message_finder import MessageFinder
from investigations.mimecast.endpoints.policy import Policy
from investigations.mimecast.endpoints.siem import SIEM_EVENT_TYPES, Siem
from investigations.mimecast.endpoints.ttp import Ttp
from investigations.mimecast.envelope import Envelope
from investigations.mimecast.transport import Transport

__all__ = ["SIEM_EVENT_TYPES", "MimecastClient"]


class MimecastClient(MessageFinder, Archive, Ttp, Gateway, Directory, Policy, Awareness, Siem, Envelope, Transport):
    """A client for Mimecast API 1.0 and 2.0. Thread-safe for concurrent calls."""
