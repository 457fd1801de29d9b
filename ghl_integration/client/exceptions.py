"""Typed errors raised by the GHL client.

Every error carries what a caller (or a log line) needs to act on it: the HTTP ``status`` (``None`` when no
response came back), GHL's parsed error ``body``, the ``request_id`` (GHL's ``traceId`` or a request-id header),
and ``method`` + ``path`` (no query string). None of them ever holds the bearer token, a refresh token, a client
secret or an authorization code: the request body and headers are deliberately not kept.
"""

from __future__ import annotations

from typing import Any

from crm.remote_calls import RemoteUnavailable


class GhlApiError(Exception):
    """Base class: any failure talking to GHL. The retryable ones are also `crm`'s `RemoteUnavailable`."""

    provider_name = "GoHighLevel"

    #: ``True`` when retrying the same request later may succeed (429, 502-504, network errors).
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: Any = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.request_id = request_id
        self.method = method
        self.path = path
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.method and self.path:
            parts.append(f"{self.method} {self.path}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " | ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"method={self.method!r}, path={self.path!r}, request_id={self.request_id!r})"
        )


class GhlAuthError(GhlApiError):
    """401/403: the token is invalid, expired (and a refresh did not help), or lacks the scope."""


class GhlNotFound(GhlApiError):
    """404: the resource does not exist (or belongs to another location)."""


class GhlValidationError(GhlApiError):
    """400/422: GHL rejected the request body or parameters. Not retryable.

    ``messages`` is GHL's ``message`` as a list (422 sends an array, 400 a string); ``meta`` is kept as sent,
    e.g. a duplicate contact: ``{"contactId": ..., "contactName": ..., "matchingField": "email"}``.
    """

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.body.get("meta") if isinstance(self.body, dict) else None
        return meta if isinstance(meta, dict) else {}

    @property
    def messages(self) -> list[str]:
        message = self.body.get("message") if isinstance(self.body, dict) else None
        if isinstance(message, list):
            return [str(m) for m in message]
        return [str(message)] if message else []

    @property
    def duplicate_contact_id(self) -> str | None:
        """The existing contact's id when a create was refused because the location forbids duplicates."""
        return self.meta.get("contactId")


class GhlRateLimited(GhlApiError, RemoteUnavailable):
    """429 from GHL after retries ran out, or our own limiter could not get a slot within its max wait."""

    retryable = True


class GhlServerError(GhlApiError, RemoteUnavailable):
    """5xx from GHL (after retries ran out for 502/503/504)."""

    retryable = True


class GhlNetworkError(GhlApiError, RemoteUnavailable):
    """No usable response: connection refused/reset, DNS failure, timeout, invalid JSON on a 2xx."""

    retryable = True


class GhlOAuthError(GhlApiError):
    """The OAuth token endpoint answered with an OAuth-style ``{"error": ...}`` body."""

    @property
    def error_code(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


class GhlInvalidGrant(GhlOAuthError, GhlAuthError):
    """``invalid_grant``: the code or refresh token is used, expired or revoked. The organisation must reconnect."""
