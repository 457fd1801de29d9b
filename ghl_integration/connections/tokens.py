"""Access tokens: hand them out, refresh them, keep idle connections alive.

Refresh tokens are single-use (GHL rotates them), so exactly one writer may refresh a connection at a
time, across threads, processes and machines: `connection_refresh_tokens` takes a row lock inside a
transaction, re-checks after the lock, calls GHL and stores the new pair before the lock is released.
Product code does not call `connection_token_provider` itself: `GhlInstallation(connection)` does.
"""
import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..client import GhlApiError, GhlAuthError, GhlInvalidGrant, GhlOAuth, TokenProvider
from ..models import GhlConnection
from .exceptions import ConnectionInactive, ConnectionNeedsReauthorization

logger = logging.getLogger(__name__)

# A token this close to expiry is refreshed before use rather than risk a 401 mid-request.
USE_MARGIN = timedelta(seconds=60)
USER_MESSAGES = {
    "invalid_grant": "GoHighLevel no longer accepts this connection's authorization. Reconnect to continue syncing.",
    "auth": "GoHighLevel refused our credentials. Reconnect to continue syncing.",
}


def oauth_client() -> GhlOAuth:
    """GHL's OAuth endpoints (token exchange, refresh, location tokens); one place, so tests can stub it."""
    return GhlOAuth()


def token_expires_at(tokens: dict[str, Any]):
    """When a token response's access token expires (GHL's ``expires_in``, else its documented 86399 s)."""
    try:
        seconds = int(tokens.get("expires_in") or 0)
    except (TypeError, ValueError):
        seconds = 0
    return timezone.now() + timedelta(seconds=seconds or 86399)


def _is_expiring(connection: GhlConnection, margin: timedelta) -> bool:
    return not connection.access_token or not connection.token_expires_at or (
        connection.token_expires_at <= timezone.now() + margin
    )


def connection_token_provider(connection_id: int) -> TokenProvider:
    """A `TokenProvider` for the API client: refreshes under the row lock when needed.

    After a 401 the client asks again with `force_refresh=True`; the provider passes on the token it handed
    out, so when another worker has already refreshed, the new token is returned without a second refresh.
    """
    handed_out: dict[str, str | None] = {"token": None}

    def provide(force_refresh: bool = False) -> str:
        token = connection_access_token(
            connection_id=connection_id,
            force_refresh=force_refresh,
            stale_token=handed_out["token"] if force_refresh else None,
        )
        handed_out["token"] = token
        return token

    return provide


def connection_access_token(*, connection_id: int, force_refresh: bool = False, stale_token: str | None = None) -> str:
    connection = GhlConnection.objects.get(pk=connection_id)
    if not connection.is_active:
        raise ConnectionInactive(f"GHL connection {connection_id} is {connection.status}")
    if not force_refresh and not _is_expiring(connection, USE_MARGIN):
        return connection.access_token
    return connection_refresh_tokens(
        connection_id=connection_id, force=force_refresh, stale_token=stale_token, margin=USE_MARGIN
    )


def connection_refresh_tokens(
    *,
    connection_id: int,
    force: bool = False,
    stale_token: str | None = None,
    margin: timedelta | None = None,
) -> str:
    """Refresh the connection's tokens if (still) needed; return a valid access token.

    `force`: refresh even if not near expiry (a 401 said the token is bad) — unless the stored token is
    no longer `stale_token`, which means another worker refreshed while we waited for the lock.
    """
    margin = margin if margin is not None else timedelta(seconds=settings.GHL_TOKEN_REFRESH_MARGIN_S)
    failure: Exception | None = None
    with transaction.atomic():
        connection = GhlConnection.objects.select_for_update().get(pk=connection_id)
        if not connection.is_active:
            raise ConnectionInactive(f"GHL connection {connection_id} is {connection.status}")
        if force and stale_token and connection.access_token and connection.access_token != stale_token:
            return connection.access_token
        if not force and not _is_expiring(connection, margin):
            return connection.access_token
        try:
            tokens = _fetch_new_tokens(connection)
        except (GhlInvalidGrant, GhlAuthError, ConnectionNeedsReauthorization) as exc:
            reason = "invalid_grant" if isinstance(exc, GhlInvalidGrant) else "auth"
            _mark_needs_reauthorization(connection, reason=reason)
            failure = ConnectionNeedsReauthorization(USER_MESSAGES[reason])
        except (GhlApiError, ConnectionInactive) as exc:
            connection.last_error = f"Token refresh failed, will retry: {exc}"
            connection.last_error_at = timezone.now()
            connection.save(update_fields=["last_error", "last_error_at", "updated_at"])
            failure = exc
        else:
            connection.access_token = tokens["access_token"]
            if tokens.get("refresh_token"):
                connection.refresh_token = tokens["refresh_token"]
            connection.token_expires_at = token_expires_at(tokens)
            connection.scopes = tokens.get("scope") or connection.scopes
            connection.last_refreshed_at = timezone.now()
            connection.last_error = ""
            connection.last_error_at = None
            connection.save()
            logger.info("ghl.connection.refreshed", extra={"connection_id": connection.pk})
            return connection.access_token
    # Raised after the commit so the recorded failure (status, last error) is kept.
    raise failure


def _fetch_new_tokens(connection: GhlConnection) -> dict:
    if connection.agency_connection_id and not connection.refresh_token:
        # Location tokens minted from an agency token come without a refresh token: mint a new one.
        return oauth_client().location_token(
            company_id=connection.company_id,
            location_id=connection.location_id,
            token_provider=connection_token_provider(connection.agency_connection_id),
        )
    if not connection.refresh_token:
        raise ConnectionNeedsReauthorization("no refresh token")
    return oauth_client().refresh(
        client_id=settings.GHL_CLIENT_ID,
        client_secret=settings.GHL_CLIENT_SECRET,
        refresh_token=connection.refresh_token,
        user_type=connection.token_level,
    )


def _mark_needs_reauthorization(connection: GhlConnection, *, reason: str) -> None:
    connection.status = GhlConnection.Status.NEEDS_REAUTHORIZATION
    connection.last_error = USER_MESSAGES[reason]
    connection.last_error_at = timezone.now()
    connection.save(update_fields=["status", "last_error", "last_error_at", "updated_at"])
    logger.warning("ghl.connection.needs-reauthorization", extra={"connection_id": connection.pk, "reason": reason})


def connections_refresh_expiring(*, budget_seconds: float | None = None) -> dict[str, int]:
    """Refresh every active connection whose token expires within the margin (the beat task's body), the
    soonest to expire first, for at most ``budget_seconds`` (None: all of them); out of time, ``left`` says how
    many are still due (they stay due: the next sweep, or the follow-up the task queues, takes them).

    Idle connections are covered too: refresh tokens rotate on use and live about a year, so refreshing
    daily keeps a connection nobody used for months alive.
    """
    deadline = float("inf") if budget_seconds is None else time.monotonic() + budget_seconds
    horizon = timezone.now() + timedelta(seconds=settings.GHL_TOKEN_REFRESH_MARGIN_S)
    due = GhlConnection.objects.filter(status=GhlConnection.Status.ACTIVE).filter(
        Q(token_expires_at__lte=horizon) | Q(token_expires_at__isnull=True)
    )
    counts = {"refreshed": 0, "failed": 0, "needs_reauthorization": 0}
    # Agency connections first: minted location tokens depend on them.
    ids = list(due.order_by("-token_level", F("token_expires_at").asc(nulls_first=True), "pk")
               .values_list("pk", flat=True))
    for done, connection_id in enumerate(ids):
        if done and time.monotonic() >= deadline:
            counts["left"] = len(ids) - done
            break
        try:
            connection_refresh_tokens(connection_id=connection_id)
            counts["refreshed"] += 1
        except ConnectionNeedsReauthorization:
            counts["needs_reauthorization"] += 1
        except (GhlApiError, ConnectionInactive) as exc:
            counts["failed"] += 1
            logger.warning("ghl.connection.refresh-failed", extra={"connection_id": connection_id, "error": str(exc)})
    return counts
