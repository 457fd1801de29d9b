"""Connecting: an OAuth code becomes a location or agency connection; an agency mints location connections.

Every path ends in `_store_location_connection` / `_store_agency_connection`, which save the row under its lock
and, after the commit, send `connection_connected` (sync listens: `ghl_integration/sync/wiring.py`).
"""
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenancy.models import Organization

from ..client import GhlApiError, GhlInvalidGrant
from ..models import GhlConnection
from ..provider import GHL
from ..selectors import agency_placeholder_name
from ..signals import connection_connected
from .exceptions import ConnectError, ConnectionInactive
from .install_state import app_install_state_record, connection_apply_install_details
from .tokens import oauth_client, token_expires_at

logger = logging.getLogger(__name__)

INCOMPLETE_ANSWER = "GoHighLevel sent an incomplete answer. Please try again."
AGENCY_NAME_SCOPE = "companies.readonly"


def _installation(connection: GhlConnection):
    # Imported here: `GhlInstallation` builds on `tokens`, which this package's `__init__` loads first.
    from ..installation import GhlInstallation

    return GhlInstallation(connection)


@dataclass(frozen=True)
class ConnectResult:
    connection: GhlConnection
    needs_location_choice: bool


def connection_connect_from_code(*, organization: Organization, user, code: str) -> ConnectResult:
    """Exchange an authorization code and store the connection. Nothing is saved when anything fails."""
    if not code:
        raise ConnectError("GoHighLevel did not send an authorization code. Please try again.", reason="no_code")
    try:
        tokens = oauth_client().exchange_code(
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
        raise ConnectError(INCOMPLETE_ANSWER, reason="bad_token_response")
    missing = GHL.missing_scopes(tokens.get("scope", ""))
    if missing:
        raise ConnectError(
            "The connection was not saved because GoHighLevel did not grant these permissions: "
            + ", ".join(missing)
            + ". Approve all requested permissions when you connect.",
            reason="missing_scopes",
        )
    if tokens.get("userType") == GhlConnection.TokenLevel.COMPANY:
        if not tokens.get("companyId"):
            raise ConnectError(INCOMPLETE_ANSWER, reason="no_company")
        connection = _store_agency_connection(organization=organization, user=user, tokens=tokens)
        return ConnectResult(connection=connection, needs_location_choice=True)
    if not tokens.get("locationId"):
        raise ConnectError(INCOMPLETE_ANSWER, reason="no_location")
    connection = _store_location_connection(
        organization=organization,
        user=user,
        location_id=tokens["locationId"],
        company_id=tokens.get("companyId", ""),
        tokens=tokens,
        agency_connection=None,
    )
    return ConnectResult(connection=connection, needs_location_choice=False)


def connection_add_agency_location(
    *, agency_connection: GhlConnection, organization: Organization, location_id: str, user=None
) -> GhlConnection:
    """Mint a location token from the agency token and connect `location_id` to `organization`."""
    if not agency_connection.is_agency or not agency_connection.is_active:
        raise ConnectError("The agency connection is not active. Reconnect the agency first.", reason="agency_inactive")
    try:
        tokens = oauth_client().location_token(
            company_id=agency_connection.company_id,
            location_id=location_id,
            token_provider=_installation(agency_connection).token_provider(),
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
    missing = GHL.missing_scopes(tokens.get("scope", "") or agency_connection.scopes)
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
        oauth_client().iter_installed_locations(
            company_id=agency_connection.company_id,
            app_id=settings.GHL_APP_ID,
            token_provider=_installation(agency_connection).token_provider(),
            isInstalled=True,
        )
    )


def _activate_with_tokens(connection: GhlConnection, *, tokens: dict, user) -> None:
    """Store a fresh token response on the connection and make it active (caller holds the row lock)."""
    now = timezone.now()
    connection.scopes = tokens.get("scope", "")
    connection.access_token = tokens["access_token"]
    connection.refresh_token = tokens.get("refresh_token") or None
    connection.token_expires_at = token_expires_at(tokens)
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
        connection.location_name = connection.location_name or location_id
        connection.agency_connection = agency_connection
        _activate_with_tokens(connection, tokens=tokens, user=user)
        # No time of its own: any INSTALL/UNINSTALL webhook, earlier or later, still applies over it.
        app_install_state_record(
            resource_id=location_id, installed=True, at=None, details={"source": "oauth"}, only_if_unknown=True
        )
        connection_apply_install_details(connection=connection)
    # After the commit: no HTTP call while the row is locked.
    _location_name_load(connection)
    connection_connected.send(sender=GhlConnection, connection=connection)
    logger.info("ghl.connection.connected", extra={"connection_id": connection.pk, "location_id": location_id})
    return connection


def _location_name_load(connection: GhlConnection) -> None:
    """Name the connection after its GHL location and keep its time zone (one request); on failure it keeps its
    earlier name."""
    from ..account import location_details_keep

    client = _installation(connection).get_client()
    try:
        location = client.locations.get(connection.location_id) or {}
        name = location.get("name", "") or ""
    except (GhlApiError, ConnectionInactive) as exc:
        logger.warning("ghl.oauth.location-name-unavailable",
                       extra={"location_id": connection.location_id, "error": str(exc)})
        return
    finally:
        client.close()
    location_details_keep(connection=connection, location=location)
    if name and name != connection.location_name:
        connection.location_name = name
        connection.save(update_fields=["location_name", "updated_at"])


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
        connection.location_name = connection.location_name or agency_placeholder_name(tokens["companyId"])
        _activate_with_tokens(connection, tokens=tokens, user=user)
    # After the commit: no HTTP call while the row is locked.
    _agency_name_load(connection)
    connection_connected.send(sender=GhlConnection, connection=connection)
    logger.info("ghl.connection.agency-connected", extra={"connection_id": connection.pk})
    return connection


def _agency_name_load(connection: GhlConnection) -> None:
    """Name the agency connection after its GHL company (one request), so the settings page names the agency
    at once rather than after an INSTALL event that may never come (an agency that installed earlier). Without
    ``companies.readonly`` granted, or on failure, it keeps its earlier name."""
    if AGENCY_NAME_SCOPE not in connection.scopes.split():
        return
    try:
        name = (oauth_client().company(company_id=connection.company_id,
                                       token_provider=_installation(connection).token_provider()).get("name") or "")
    except (GhlApiError, ConnectionInactive) as exc:
        logger.warning("ghl.oauth.agency-name-unavailable",
                       extra={"company_id": connection.company_id, "error": str(exc)})
        return
    name = name.strip()
    if name and name != connection.location_name:
        connection.location_name = name
        connection.save(update_fields=["location_name", "updated_at"])
