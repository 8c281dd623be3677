"""Mimecast API integration: client, configuration, errors and parsed result types.

This package knows HTTP and the Mimecast contract, nothing about Django.
"""

from .archive_query import ArchiveQuery
from .client import MimecastClient
from .config import MimecastConfig
from .errors import (
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
from .urls import validate_base_url

__all__ = [
    "ArchiveQuery",
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
