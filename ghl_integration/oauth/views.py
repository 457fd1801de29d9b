"""The owner's GoHighLevel settings page and the OAuth connect flow (server-rendered, CSRF-protected)."""
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenancy.permissions import org_manager_membership, org_manager_required

from ..client import GhlApiError
from ..connections import (
    ConnectError,
    ConnectionInactive,
    agency_installed_locations,
    connection_add_agency_location,
    connection_connect_from_code,
    connection_disconnect,
)
from ..contacts.runs import contact_sync_status
from ..models import GhlConnection
from ..provider import GHL
from ..selectors import agency_name_for, connection_agency_for_org, connection_current_for_org
from .state import OAuthStateError, state_consume, state_issue

logger = logging.getLogger(__name__)

STATE_MESSAGES = {
    "missing": "The connection could not be completed: GoHighLevel's answer was incomplete. Please try again.",
    "tampered": "The connection could not be completed because the request was altered. Please try again.",
    "expired": "The connection took too long and expired. Please click Connect again.",
    "reused": "That connection link was already used. Please click Connect again.",
    "wrong_user": "That connection was started by another user. Please click Connect yourself.",
}
DENIED_MESSAGE = "GoHighLevel was not connected: access was not approved."


@require_GET
@org_manager_required
def settings_page(request):
    return settings_page_render(request)


def settings_page_render(request, *, extra: dict | None = None, status: int = 200):
    """The settings page for ``request.organization``; ``extra`` adds to its context (a bound form whose
    errors show in place, with what was typed)."""
    organization = request.organization
    connection = connection_current_for_org(organization=organization)
    agency = connection_agency_for_org(organization=organization)
    context = {
        "organization": organization,
        "connection": connection,
        "agency": agency if agency and agency.is_active else None,
        "scopes": (connection.scopes.split() if connection else []),
        **(contact_sync_status(connection=connection) if connection else {}),
        "agency_name": agency_name_for(organization=organization, company_id=(agency.company_id if agency else "") or (
            connection.company_id if connection and connection.agency_connection_id else "")),
        **(extra or {}),
    }
    return render(request, "ghl_integration/settings.html", context, status=status)


@require_POST
@org_manager_required
def connect(request):
    state = state_issue(request=request, organization_id=request.organization.pk)
    return redirect(GHL.authorize_url(state=state))


@require_GET
@login_required
def oauth_callback(request):
    try:
        org_id = state_consume(request=request, state=request.GET.get("state"))
    except OAuthStateError as exc:
        logger.warning("ghl.oauth.bad-state", extra={"reason": exc.reason, "user_id": request.user.pk})
        messages.error(request, STATE_MESSAGES[exc.reason])
        return redirect("home")
    # The organisation comes from the signed state, not the URL, so the decorator cannot check it.
    membership = org_manager_membership(user=request.user, organization_id=org_id)
    if membership is None:
        messages.error(request, "Only an owner or admin of this organization can connect GoHighLevel.")
        return redirect("home")
    settings_url = redirect("ghl_settings", org_id=org_id)
    if request.GET.get("error"):
        messages.warning(request, DENIED_MESSAGE)
        return settings_url
    try:
        result = connection_connect_from_code(
            organization=membership.organization, user=request.user, code=request.GET.get("code", "")
        )
    except ConnectError as exc:
        logger.warning("ghl.oauth.connect-failed", extra={"reason": exc.reason, "organization_id": org_id})
        messages.error(request, exc.user_message)
        return settings_url
    if result.needs_location_choice:
        return redirect("ghl_choose_location", org_id=org_id)
    messages.success(request, f"Connected to {result.connection.location_name}.")
    return settings_url


@require_http_methods(["GET", "POST"])
@org_manager_required
def choose_location(request):
    """After an agency-level consent: pick which of the agency's locations this organization uses."""
    organization = request.organization
    agency = connection_agency_for_org(organization=organization)
    if agency is None or not agency.is_active:
        messages.error(request, "Connect a GoHighLevel agency first.")
        return redirect("ghl_settings", org_id=organization.pk)
    try:
        locations = [
            {"id": loc.get("_id", ""), "name": loc.get("name", ""), "address": loc.get("address", "")}
            for loc in agency_installed_locations(agency_connection=agency)
        ]
    except (GhlApiError, ConnectionInactive) as exc:
        logger.warning("ghl.oauth.installed-locations-failed", extra={"connection_id": agency.pk, "error": str(exc)})
        messages.error(request, "GoHighLevel did not list the agency's locations. Please try again shortly.")
        return redirect("ghl_settings", org_id=organization.pk)
    error = ""
    if request.method == "POST":
        location_id = request.POST.get("location_id", "")
        if location_id not in {loc["id"] for loc in locations}:
            error = "Pick one of the listed locations."
        else:
            try:
                connection = connection_add_agency_location(
                    agency_connection=agency, organization=organization, location_id=location_id, user=request.user
                )
            except ConnectError as exc:
                error = exc.user_message
            else:
                messages.success(request, f"Connected to {connection.location_name}.")
                return redirect("ghl_settings", org_id=organization.pk)
    return render(
        request,
        "ghl_integration/choose_location.html",
        {"organization": organization, "locations": locations, "error": error},
        status=400 if error else 200,
    )


@require_POST
@org_manager_required
def disconnect(request):
    organization = request.organization
    connections = [
        c
        for c in (
            connection_current_for_org(organization=organization),
            connection_agency_for_org(organization=organization),
        )
        if c is not None and c.status != GhlConnection.Status.DISCONNECTED
    ]
    if not connections:
        messages.info(request, "GoHighLevel is not connected.")
    for connection in connections:
        connection_disconnect(connection=connection)
    if connections:
        messages.success(request, "Disconnected from GoHighLevel. Your CRM data stays in AgentLevel.")
    return redirect("ghl_settings", org_id=organization.pk)
