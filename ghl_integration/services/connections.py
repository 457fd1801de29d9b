"""Connection lifecycle: connect, refresh, re-authorise, disconnect, uninstall.

Refresh tokens are single-use (GHL rotates them), so exactly one writer may refresh a connection at a
time, across threads, processes and machines: `connection_refresh_tokens` takes a row lock inside a
transaction, re-checks after the lock, calls GHL and stores the new pair before the lock is released.
"""
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenancy.models import Organization

from ..client import GhlApiError, GhlAuthError, GhlClient, GhlInvalidGrant, GhlOAuth
from ..models import GhlAppInstallState, GhlConnection
from ..signals import connection_deactivated

logger = logging.getLogger(__name__)

# A token this close to expiry is refreshed before use rather than risk a 401 mid-request.
USE_MARGIN = timedelta(seconds=60)
USER_MESSAGES = {
    "invalid_grant": "GoHighLevel no longer accepts this connection's authorization. Reconnect to continue syncing.",
    "auth": "GoHighLevel refused our credentials. Reconnect to continue syncing.",
}


class ConnectionInactive(Exception):
    """The connection is not active (disconnected, uninstalled or needs reauthorization): no GHL calls."""


class ConnectionNeedsReauthorization(ConnectionInactive):
    """GHL refused the refresh token (`invalid_grant`): the owner must connect again."""


class ConnectError(Exception):
    """The connect flow failed; `user_message` is shown to the owner as is."""

    def __init__(self, user_message: str, *, reason: str):
        super().__init__(reason)
        self.user_message = user_message
        self.reason = reason


@dataclass(frozen=True)
class ConnectResult:
    connection: GhlConnection
    needs_location_choice: bool


def _oauth() -> GhlOAuth:
    return GhlOAuth()


def _expires_at(tokens: dict[str, Any]):
    try:
        seconds = int(tokens.get("expires_in") or 0)
    except (TypeError, ValueError):
        seconds = 0
    return timezone.now() + timedelta(seconds=seconds or 86399)


def _is_expiring(connection: GhlConnection, margin: timedelta) -> bool:
    return not connection.access_token or not connection.token_expires_at or (
        connection.token_expires_at <= timezone.now() + margin
    )


def _missing_scopes(granted: str) -> list[str]:
    granted_set = set((granted or "").split())
    return [scope for scope in settings.GHL_REQUIRED_SCOPES if scope not in granted_set]


# --- Connect -------------------------------------------------------------------------------------------------


def connection_connect_from_code(*, organization: Organization, user, code: str) -> ConnectResult:
    """Exchange an authorization code and store the connection. Nothing is saved when anything fails."""
    if not code:
        raise ConnectError("GoHighLevel did not send an authorization code. Please try again.", reason="no_code")
    try:
        tokens = _oauth().exchange_code(
            client_id=settings.GHL_CLIENT_ID,
            client_secret=settings.GHL_CLIENT_SECRET,
            code=code,
            redirect_uri=settings.GHL_REDIRECT_URI,
        )
    except GhlInvalidGrant:
        raise ConnectError(
            "That authorization was already used or has expired. Please connect again.", reason="invalid_grant"
        )
    except GhlApiError as exc:
        logger.warning("ghl.oauth.exchange-failed", extra={"organization_id": organization.pk, "error": str(exc)})
        raise ConnectError(
            "GoHighLevel could not complete the connection right now. Please try again in a minute.",
            reason="token_endpoint",
        )
    if not tokens.get("access_token"):
        raise ConnectError("GoHighLevel sent an incomplete answer. Please try again.", reason="bad_token_response")
    missing = _missing_scopes(tokens.get("scope", ""))
    if missing:
        raise ConnectError(
            "The connection was not saved because GoHighLevel did not grant these permissions: "
            + ", ".join(missing)
            + ". Approve all requested permissions when you connect.",
            reason="missing_scopes",
        )
    if tokens.get("userType") == GhlConnection.TokenLevel.COMPANY:
        if not tokens.get("companyId"):
            raise ConnectError("GoHighLevel sent an incomplete answer. Please try again.", reason="no_company")
        connection = _store_agency_connection(organization=organization, user=user, tokens=tokens)
        return ConnectResult(connection=connection, needs_location_choice=True)
    if not tokens.get("locationId"):
        raise ConnectError("GoHighLevel sent an incomplete answer. Please try again.", reason="no_location")
    connection = _store_location_connection(
        organization=organization,
        user=user,
        location_id=tokens["locationId"],
        company_id=tokens.get("companyId", ""),
        tokens=tokens,
        agency_connection=None,
    )
    return ConnectResult(connection=connection, needs_location_choice=False)


def _location_name(location_id: str, access_token: str) -> str:
    client = GhlClient(location_id=location_id, token_provider=lambda force_refresh=False: access_token)
    try:
        return (client.locations.get(location_id) or {}).get("name", "") or ""
    except GhlApiError as exc:
        logger.warning("ghl.oauth.location-name-unavailable", extra={"location_id": location_id, "error": str(exc)})
        return ""
    finally:
        client.close()


def _activate_with_tokens(connection: GhlConnection, *, tokens: dict, user) -> None:
    """Store a fresh token response on the connection and make it active (caller holds the row lock)."""
    now = timezone.now()
    connection.scopes = tokens.get("scope", "")
    connection.access_token = tokens["access_token"]
    connection.refresh_token = tokens.get("refresh_token") or None
    connection.token_expires_at = _expires_at(tokens)
    connection.ghl_user_id = tokens.get("userId", "") or ""
    connection.status = GhlConnection.Status.ACTIVE
    connection.connected_by = user
    connection.connected_at = now
    connection.disconnected_at = None
    connection.last_refreshed_at = now
    connection.last_error = ""
    connection.last_error_at = None
    connection.save()


def _store_location_connection(
    *, organization, user, location_id: str, company_id: str, tokens: dict, agency_connection: GhlConnection | None
) -> GhlConnection:
    name = _location_name(location_id, tokens["access_token"])
    with transaction.atomic():
        taken = (
            GhlConnection.objects.filter(location_id=location_id, status=GhlConnection.Status.ACTIVE)
            .exclude(organization=organization)
            .exists()
        )
        if taken:
            raise ConnectError(
                "This GoHighLevel location is already connected to another organization in AgentLevel.",
                reason="location_taken",
            )
        # Reuse the organization's earlier row for this location, so a reconnect resumes where it stopped.
        connection = (
            GhlConnection.objects.for_org(organization)
            .select_for_update()
            .filter(location_id=location_id, token_level=GhlConnection.TokenLevel.LOCATION)
            .order_by("-updated_at")
            .first()
        ) or GhlConnection(organization=organization, location_id=location_id)
        connection.token_level = GhlConnection.TokenLevel.LOCATION
        connection.company_id = company_id or connection.company_id
        connection.location_name = name or connection.location_name or location_id
        connection.agency_connection = agency_connection
        _activate_with_tokens(connection, tokens=tokens, user=user)
        # No time of its own: any INSTALL/UNINSTALL webhook, earlier or later, still applies over it.
        app_install_state_record(
            resource_id=location_id, installed=True, at=None, details={"source": "oauth"}, only_if_unknown=True
        )
        _apply_install_details(connection)
    _load_contact_mapping(connection)
    if settings.GHL_SYNC_PULL_ON_CONNECT:
        # Imported here: the sync package builds on this module. Queued after commit (STYLE §2).
        from ..sync.tasks import contacts_initial_pull_queue

        contacts_initial_pull_queue(connection_id=connection.pk)
    logger.info("ghl.connection.connected", extra={"connection_id": connection.pk, "location_id": location_id})
    return connection


def _load_contact_mapping(connection: GhlConnection) -> None:
    """Turn the location's contact custom fields into mapping rows as part of connecting (one request, after
    the connection is saved, before the pull is queued), so the owner's settings page shows the whole field
    mapping at once and the pull starts on its pages. If GHL fails here the pull fetches them itself."""
    from ..sync.mapping import contact_mapping_ensure_defaults  # the sync package builds on this module

    client = GhlClient(location_id=connection.location_id, token_provider=connection_token_provider(connection.pk))
    try:
        contact_mapping_ensure_defaults(connection=connection, client=client)
    except GhlApiError as exc:
        logger.warning("ghl.connection.mapping-deferred",
                       extra={"connection_id": connection.pk, "location_id": connection.location_id,
                              "error": str(exc)})
    finally:
        client.close()


def _store_agency_connection(*, organization, user, tokens: dict) -> GhlConnection:
    with transaction.atomic():
        connection = (
            GhlConnection.objects.for_org(organization)
            .select_for_update()
            .filter(company_id=tokens["companyId"], token_level=GhlConnection.TokenLevel.COMPANY)
            .order_by("-updated_at")
            .first()
        ) or GhlConnection(organization=organization, company_id=tokens["companyId"])
        connection.token_level = GhlConnection.TokenLevel.COMPANY
        connection.location_id = ""
        connection.location_name = connection.location_name or f"Agency {tokens['companyId']}"
        _activate_with_tokens(connection, tokens=tokens, user=user)
    logger.info("ghl.connection.agency-connected", extra={"connection_id": connection.pk})
    return connection


def connection_add_agency_location(
    *, agency_connection: GhlConnection, organization: Organization, location_id: str, user=None
) -> GhlConnection:
    """Mint a location token from the agency token and connect `location_id` to `organization`."""
    if not agency_connection.is_agency or not agency_connection.is_active:
        raise ConnectError("The agency connection is not active. Reconnect the agency first.", reason="agency_inactive")
    try:
        tokens = _oauth().location_token(
            company_id=agency_connection.company_id,
            location_id=location_id,
            token_provider=connection_token_provider(agency_connection.pk),
        )
    except (GhlApiError, ConnectionInactive) as exc:
        logger.warning(
            "ghl.oauth.location-token-failed",
            extra={"agency_connection_id": agency_connection.pk, "location_id": location_id, "error": str(exc)},
        )
        raise ConnectError(
            "GoHighLevel would not issue a token for that location. Check that the app is installed there.",
            reason="location_token",
        )
    missing = _missing_scopes(tokens.get("scope", "") or agency_connection.scopes)
    if missing:
        raise ConnectError(
            "GoHighLevel did not grant these permissions for that location: " + ", ".join(missing) + ".",
            reason="missing_scopes",
        )
    return _store_location_connection(
        organization=organization,
        user=user,
        location_id=location_id,
        company_id=agency_connection.company_id,
        tokens=tokens,
        agency_connection=agency_connection,
    )


def agency_installed_locations(*, agency_connection: GhlConnection) -> list[dict]:
    """The agency's locations where our app is installed (GHL's `/oauth/installedLocations`)."""
    return list(
        _oauth().iter_installed_locations(
            company_id=agency_connection.company_id,
            app_id=settings.GHL_APP_ID,
            token_provider=connection_token_provider(agency_connection.pk),
            isInstalled=True,
        )
    )


# --- Tokens --------------------------------------------------------------------------------------------------


def connection_token_provider(connection_id: int):
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
            connection.token_expires_at = _expires_at(tokens)
            connection.scopes = tokens.get("scope") or connection.scopes
            connection.last_refreshed_at = timezone.now()
            connection.last_error = ""
            connection.last_error_at = None
            connection.save()
            logger.info("ghl.connection.refreshed", extra={"connection_id": connection.pk})
            return connection.access_token
    # Raised after the commit so the recorded failure (status, last error) is kept.
    if isinstance(failure, ConnectionNeedsReauthorization):
        connection_deactivated.send(sender=GhlConnection, connection=connection, reason="needs_reauthorization")
    raise failure


def _fetch_new_tokens(connection: GhlConnection) -> dict:
    if connection.agency_connection_id and not connection.refresh_token:
        # Location tokens minted from an agency token come without a refresh token: mint a new one.
        return _oauth().location_token(
            company_id=connection.company_id,
            location_id=connection.location_id,
            token_provider=connection_token_provider(connection.agency_connection_id),
        )
    if not connection.refresh_token:
        raise ConnectionNeedsReauthorization("no refresh token")
    return _oauth().refresh(
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


def connections_refresh_expiring() -> dict[str, int]:
    """Refresh every active connection whose token expires within the margin (the beat task's body).

    Idle connections are covered too: refresh tokens rotate on use and live about a year, so refreshing
    daily keeps a connection nobody used for months alive.
    """
    horizon = timezone.now() + timedelta(seconds=settings.GHL_TOKEN_REFRESH_MARGIN_S)
    due = GhlConnection.objects.filter(status=GhlConnection.Status.ACTIVE).filter(
        Q(token_expires_at__lte=horizon) | Q(token_expires_at__isnull=True)
    )
    counts = {"refreshed": 0, "failed": 0, "needs_reauthorization": 0}
    # Agency connections first: minted location tokens depend on them.
    for connection_id in due.order_by("-token_level", "pk").values_list("pk", flat=True):
        try:
            connection_refresh_tokens(connection_id=connection_id)
            counts["refreshed"] += 1
        except ConnectionNeedsReauthorization:
            counts["needs_reauthorization"] += 1
        except (GhlApiError, ConnectionInactive) as exc:
            counts["failed"] += 1
            logger.warning("ghl.connection.refresh-failed", extra={"connection_id": connection_id, "error": str(exc)})
    return counts


# --- Disconnect / uninstall ----------------------------------------------------------------------------------


def connection_disconnect(*, connection: GhlConnection, status: str = GhlConnection.Status.DISCONNECTED) -> None:
    """Stop all sync for the connection at once and wipe its tokens. CRM rows and external-id links stay."""
    with transaction.atomic():
        locked = GhlConnection.objects.select_for_update().get(pk=connection.pk)
        locked.status = status
        locked.access_token = None
        locked.refresh_token = None
        locked.token_expires_at = None
        locked.disconnected_at = timezone.now()
        locked.save()
        # Location connections minted from an agency token cannot outlive it.
        children = list(
            GhlConnection.objects.select_for_update()
            .filter(agency_connection=locked, status=GhlConnection.Status.ACTIVE)
            .values_list("pk", flat=True)
        )
    for child_id in children:
        connection_disconnect(connection=GhlConnection.objects.get(pk=child_id), status=status)
    connection.refresh_from_db()
    connection_deactivated.send(sender=GhlConnection, connection=connection, reason=status)
    logger.info("ghl.connection.deactivated", extra={"connection_id": connection.pk, "status": status})


def app_install_state_record(
    *, resource_id: str, installed: bool, at, details: dict | None = None, only_if_unknown: bool = False
) -> GhlAppInstallState:
    """Remember the newest install/uninstall we heard of for a location or company (order-independent)."""
    state, created = GhlAppInstallState.objects.select_for_update().get_or_create(
        resource_id=resource_id, defaults={"installed": installed, "changed_at": at, "details": details or {}}
    )
    if created or only_if_unknown:
        return state
    if state.changed_at is None or at >= state.changed_at:
        state.installed = installed
        state.changed_at = at
        state.details = {**state.details, **(details or {})}
        state.save()
    return state


def _apply_install_details(connection: GhlConnection) -> None:
    """Copy what INSTALL told us (plan, install time) onto the connection, whichever arrived first."""
    state = GhlAppInstallState.objects.filter(resource_id=connection.location_id).first()
    if state and state.details.get("source") == "webhook":
        install = {k: state.details[k] for k in ("planId", "companyId", "installedAt") if k in state.details}
        if install and connection.config.get("install") != install:
            connection.config = {**connection.config, "install": install}
            connection.save(update_fields=["config", "updated_at"])


@transaction.atomic
def app_installed(*, location_id: str, company_id: str, at, payload: dict) -> None:
    """INSTALL webhook: may arrive before or after the OAuth callback; both orders end the same."""
    details = {"source": "webhook", "planId": payload.get("planId", ""), "companyId": company_id,
               "installedAt": at.isoformat()}
    app_install_state_record(resource_id=location_id or company_id, installed=True, at=at, details=details)
    for connection in GhlConnection.objects.filter(location_id=location_id, status=GhlConnection.Status.ACTIVE):
        _apply_install_details(connection)


def app_uninstalled(*, location_id: str, company_id: str, at) -> int:
    """UNINSTALL webhook: mark the location's (or agency's) connections uninstalled and wipe their tokens."""
    with transaction.atomic():
        app_install_state_record(resource_id=location_id or company_id, installed=False, at=at,
                                 details={"source": "webhook", "uninstalledAt": at.isoformat()})
    if location_id:
        affected = GhlConnection.objects.filter(location_id=location_id)
    else:
        affected = GhlConnection.objects.filter(company_id=company_id, token_level=GhlConnection.TokenLevel.COMPANY)
    affected = list(affected.exclude(status=GhlConnection.Status.UNINSTALLED).exclude(
        status=GhlConnection.Status.DISCONNECTED))
    for connection in affected:
        connection_disconnect(connection=connection, status=GhlConnection.Status.UNINSTALLED)
    return len(affected)
