"""Opportunity events ("Opportunity*" webhook docs): `OpportunityCreate`, `Update`, `Delete`, `StageUpdate`,
`StatusUpdate`, `MonetaryValueUpdate`, `AssignedToUpdate`.

Every body is the same summary of the opportunity (no ``updatedAt``, no custom fields), so one handler serves
them all: it reads the opportunity from GHL and applies that state, ordered by GHL's ``updatedAt``
(`ghl_integration.opportunities.inbound`); several events of one edit apply once, in any order. Delete archives.
https://highlevel.stoplight.io/docs/integrations/ — OpportunityCreate … OpportunityAssignedToUpdate
"""
import functools
import logging

from crm.sync.inbound import CreatePushInFlight

from ...client import GhlApiError
from ...installation import GhlInstallation
from ...opportunities.inbound import UnknownReference, opportunity_apply_ghl_event
from .base import HandlerRegistry, PermanentWebhookError, RetryableWebhookError

logger = logging.getLogger(__name__)

CONTACT_IN_FLIGHT_RETRY_SECONDS = 2.0

EVENTS = (
    "OpportunityCreate",
    "OpportunityUpdate",
    "OpportunityDelete",
    "OpportunityStageUpdate",
    "OpportunityStatusUpdate",
    "OpportunityMonetaryValueUpdate",
    "OpportunityAssignedToUpdate",
)

registry = HandlerRegistry("opportunities", events=EVENTS)


def handle_opportunity_change(event, payload: dict, *, deleted: bool = False) -> None:
    external_id = payload.get("id")
    if not isinstance(external_id, str) or not external_id:
        raise PermanentWebhookError("opportunity event without an id")
    try:
        with GhlInstallation(event.connection).get_client() as client:
            result = opportunity_apply_ghl_event(connection=event.connection, client=client, external_id=external_id,
                                                 deleted=deleted, delivered_at=event.delivered_at, payload=payload)
    except UnknownReference as exc:
        raise PermanentWebhookError(str(exc)) from exc
    except CreatePushInFlight as exc:  # its contact is being created by our own push: its link comes shortly
        raise RetryableWebhookError(str(exc), retry_in=CONTACT_IN_FLIGHT_RETRY_SECONDS) from exc
    except GhlApiError as exc:
        if exc.retryable or exc.status is None or exc.status >= 500 or exc.status in (401, 403):
            raise RetryableWebhookError(f"GHL: {exc}") from exc
        raise PermanentWebhookError(f"GHL refused the read: {exc}") from exc
    logger.info("ghl.sync.opportunity-event", extra={
        "event_type": event.event_type, "external_id": external_id, "outcome": result.outcome})


for _event in EVENTS:
    registry.register(_event, functools.partial(handle_opportunity_change, deleted=_event == "OpportunityDelete"))
