"""Typed errors raised by the Mimecast client.

Every error carries a plain-words ``message`` an analyst can read, plus the technical details
(Mimecast error ``code``, ``field``, HTTP or meta ``status``, ``retryable``, ``request_id``) for logs
and the audit trail. None of them ever contains a credential.
"""

from __future__ import annotations

from typing import Any

# Plain-words explanations for the error codes Mimecast is known to send (Mimecast's API documentation).
_CODE_EXPLANATIONS = {
    "err_xdk_binding_expired": "The Mimecast access key has expired; the portal must log in to Mimecast again.",
    "err_developer_key": "Mimecast rejected the application ID or application key. Check the connection settings.",
    "err_validation_null": "Mimecast says a required field is missing{field}.",
    "err_validation_blank": "Mimecast says a field is empty{field}.",
    "err_validation_invalid_email_address": "Mimecast says an email address is not valid{field}.",
    "err_managed_url_exists_code": "This URL is already in the managed URL list.",
    "err_managed_url_not_found": "The managed URL was not found.",
    "err_hold_message_not_found": "The message is not in the hold queue (already released or rejected?).",
    "err_policy_not_found": "The policy was not found.",
    "err_folder_group_member_already_exists": "This address is already a member of the group.",
    "err_folder_email_address_not_found": "This address is not a member of the group.",
    "err_audit_siem_invalid_token": "Mimecast rejected the SIEM log token.",
    "err_audit_log_incorrect_region": (
        "The Mimecast account lives in a different region; the base URL in the connection settings is wrong."
    ),
    "InvalidClientIdentifier": "Mimecast rejected the API 2.0 client ID or client secret.",
    "token_expired": "The Mimecast API 2.0 access token has expired.",
    "app_forbidden": (
        "The Mimecast API application is not allowed to perform this operation (missing permission or scope)."
    ),
}


def explain_code(code: str, message: str = "", field: str = "") -> str:
    """Return a sentence for an analyst describing a Mimecast error code."""
    template = _CODE_EXPLANATIONS.get(code)
    if template is None:
        text = message.strip() or "Mimecast reported an error."
        if not text.endswith((".", "!", "?")):
            text += "."
        return f"Mimecast refused the request: {text}"
    return template.format(field=f" ({field})" if field else "")


class MimecastError(Exception):
    """Base class of everything the Mimecast client raises."""

    default_message = "The call to Mimecast failed."
    default_retryable = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str = "",
        field: str = "",
        status: int | None = None,
        retryable: bool | None = None,
        request_id: str = "",
        endpoint: str = "",
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code
        self.field = field
        self.status = status
        self.retryable = self.default_retryable if retryable is None else retryable
        self.request_id = request_id
        self.endpoint = endpoint
        # Every Mimecast error entry for this call (code/message/field/retryable), for display and logs.
        self.errors = errors or []
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, code={self.code!r}, field={self.field!r}, "
            f"status={self.status!r}, endpoint={self.endpoint!r}, request_id={self.request_id!r})"
        )


class MimecastConfigError(MimecastError):
    """The connection settings are unusable (bad base URL, missing credentials, ...)."""

    default_message = "The Mimecast connection settings are not valid."


class MimecastAuthError(MimecastError):
    """Mimecast did not accept our credentials, or refused the operation for lack of permission."""

    default_message = "Mimecast did not accept the portal's credentials."


class MimecastRateLimited(MimecastError):
    """Mimecast answered 429 and we gave up waiting."""

    default_message = "Mimecast is limiting the number of requests; try again shortly."
    default_retryable = True

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class MimecastServerError(MimecastError):
    """Mimecast answered with a 5xx status."""

    default_message = "Mimecast had an internal problem and could not answer; try again later."
    default_retryable = True


class MimecastTimeout(MimecastError):
    """Mimecast did not answer in time."""

    default_message = "Mimecast did not answer in time; try again later."
    default_retryable = True


class MimecastConnectionError(MimecastError):
    """Mimecast could not be reached (DNS, TLS, connection refused or reset)."""

    default_message = "The portal could not reach Mimecast."
    default_retryable = True


class MimecastApiError(MimecastError):
    """Mimecast answered but refused the request: a fail[] entry, a 4xx status or a non-2xx meta.status."""

    default_message = "Mimecast refused the request."


class MimecastBadResponse(MimecastError):
    """Mimecast's answer could not be understood (malformed, truncated or unexpected shape)."""

    default_message = "Mimecast sent an answer the portal could not understand."
    default_retryable = False


class MimecastNotFound(MimecastApiError):
    """Mimecast answered successfully but returned nothing for the id we asked about."""

    default_message = "Mimecast has no record matching this request."


class MimecastAlreadyExists(MimecastApiError):
    """Mimecast refused to create something because it exists already (a managed URL, a group member).

    A response action retried after a lost answer meets this for what its first attempt created, so
    the caller can tell "done before" from a real refusal by type instead of by error code."""

    default_message = "This already exists in Mimecast."


class MimecastInvalidRequest(MimecastError):
    """The call was refused before anything was sent, because its arguments are not valid."""

    default_message = "The request to Mimecast is not valid."
