"""Mimecast API integration: client, configuration, errors and parsed result types.

This package knows HTTP and the Mimecast contract, nothing about Django.
"""

from investigations.mimecast.archive_query import ArchiveQuery
from investigations.mimecast.client import MimecastClient
from investigations.mimecast.config import MimecastConfig
from investigations.mimecast.errors import (
    MimecastAlreadyExists,
    MimecastApiError,
    MimecastAuthError,
    MimecastBadResponse,
    MimecastConfigError,
    MimecastConnectionError,
    MimecastError,
    MimecastInvalidRequest,
    MimecastNotFound,
    MimecastRateLimited,
    MimecastServerError,
    MimecastTimeout,
)
from investigations.mimecast.urls import validate_base_url

__all__ = [
    "ArchiveQuery",
    "MimecastAlreadyExists",
    "MimecastApiError",
    "MimecastAuthError",
    "MimecastBadResponse",
    "MimecastClient",
    "MimecastConfig",
    "MimecastConfigError",
    "MimecastConnectionError",
    "MimecastError",
    "MimecastInvalidRequest",
    "MimecastNotFound",
    "MimecastRateLimited",
    "MimecastServerError",
    "MimecastTimeout",
    "validate_base_url",
]
