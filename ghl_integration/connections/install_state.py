"""INSTALL / UNINSTALL of our Marketplace app, which may arrive before or after the OAuth callback.

`GhlAppInstallState` keeps the newest event per location or company by the event's own time, so both
orders end in the same state.
"""
from django.db import transaction

from ..models import GhlAppInstallState, GhlConnection
from .disconnect import connection_disconnect


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


def connection_apply_install_details(*, connection: GhlConnection) -> None:
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
    if payload.get("companyName"):  # the agency's name, shown instead of its id
        details["companyName"] = payload["companyName"]
    app_install_state_record(resource_id=location_id or company_id, installed=True, at=at, details=details)
    for connection in GhlConnection.objects.filter(location_id=location_id, status=GhlConnection.Status.ACTIVE):
        connection_apply_install_details(connection=connection)


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
