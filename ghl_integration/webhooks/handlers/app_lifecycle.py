"""App lifecycle events ("AppInstall", "AppUninstall", "PlanChange" webhook docs): `type` is `INSTALL`,
`UNINSTALL`, `PLAN_CHANGE`.

These are dispatched even when no active connection exists for the location (an INSTALL arrives before the
connection does; an agency-level UNINSTALL has no `locationId`).
https://marketplace.gohighlevel.com/docs/webhook/AppInstall
"""
import logging

from django.conf import settings

from ...connections import app_installed, app_uninstalled
from .base import HandlerRegistry, PermanentWebhookError

logger = logging.getLogger(__name__)

EVENTS = ("INSTALL", "UNINSTALL", "PLAN_CHANGE")

registry = HandlerRegistry("app_lifecycle", events=EVENTS)


def _ids(event, payload: dict) -> tuple[str, str]:
    app_id = payload.get("appId")
    # GHL sends lifecycle events of every app to the app's default URL; one of another app is not ours.
    if isinstance(app_id, str) and app_id and settings.GHL_APP_ID and app_id != settings.GHL_APP_ID:
        raise PermanentWebhookError(f"event for app {app_id}, not ours ({settings.GHL_APP_ID})")
    location_id = payload.get("locationId") if isinstance(payload.get("locationId"), str) else ""
    company_id = payload.get("companyId") if isinstance(payload.get("companyId"), str) else ""
    if not location_id and not company_id:
        raise PermanentWebhookError("lifecycle event without locationId or companyId")
    return location_id, company_id


def _when(event):
    # The delivery's own time orders INSTALL/UNINSTALL; fall back to when we received it.
    return event.delivered_at or event.received_at


@registry.register("INSTALL")
def handle_install(event, payload: dict) -> None:
    location_id, company_id = _ids(event, payload)
    app_installed(location_id=location_id, company_id=company_id, at=_when(event), payload=payload)
    logger.info("ghl.app.installed", extra={"location_id": location_id, "company_id": company_id})


@registry.register("UNINSTALL")
def handle_uninstall(event, payload: dict) -> None:
    location_id, company_id = _ids(event, payload)
    count = app_uninstalled(location_id=location_id, company_id=company_id, at=_when(event))
    logger.info("ghl.app.uninstalled", extra={"location_id": location_id, "company_id": company_id,
                                              "connections": count})
