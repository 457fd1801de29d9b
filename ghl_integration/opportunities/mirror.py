"""What GHL owns around opportunities, mirrored: pipelines with their ordered stages, the location's users
(so an assignee is a name) and lost reasons, the opportunity custom fields as field mapping rows
(`mapping.py`) and the location's currency (`currency.py`).

GHL sends no webhook for any of these, so `opportunity_metadata_refresh` runs on connect, in every
reconciliation, and whenever an opportunity names a stage, user or lost reason we do not know yet. It costs
five requests per location (pipelines, users, lost reasons, custom fields, the location).
"""
import logging
from dataclasses import dataclass

from crm.models import CrmUser, LostReason, Pipeline
from crm.services.mirrors import crm_user_upsert_from_remote, lost_reason_upsert_from_remote, mirrored_archive_missing
from crm.services.pipelines import RemoteStage, pipeline_upsert_from_remote

from ..client import GhlAuthError, GhlClient
from ..models import GhlConnection
from ..provider import GHL
from .currency import location_currency_refresh
from .mapping import opportunity_mapping_refresh

logger = logging.getLogger(__name__)

PROVIDER = GHL.key


@dataclass
class MetadataRefreshed:
    pipelines: int = 0
    stages: int = 0
    users: int = 0
    lost_reasons: int = 0
    archived: int = 0
    custom_fields_added: int = 0
    currency: str = ""
    requests: int = 0


def opportunity_metadata_refresh(*, connection: GhlConnection, client: GhlClient) -> MetadataRefreshed:
    """Mirror the location's pipelines (stages renamed, removed → archived, reordered), users and lost reasons."""
    org, location = connection.organization, connection.location_id
    result = MetadataRefreshed()
    common = {"organization": org, "provider": PROVIDER, "account_id": location}

    pipelines = client.opportunities.pipelines()
    result.requests += 1
    for remote in pipelines:
        stages = [RemoteStage(external_id=s["id"], name=s.get("name") or "") for s in remote.get("stages") or []
                  if isinstance(s, dict) and s.get("id")]
        pipeline_upsert_from_remote(**common, external_id=remote["id"], name=remote.get("name") or "",
                                    stages=stages, connection_id=connection.pk)
        result.pipelines += 1
        result.stages += len(stages)
    result.archived += mirrored_archive_missing(model=Pipeline, **common,
                                                present_external_ids={p["id"] for p in pipelines})
    try:
        users = [u for u in client.users.list() if u.get("id") and not u.get("deleted")]
        result.requests += 1
    except GhlAuthError as exc:  # the users.readonly scope was not granted: deals show no assignee name
        logger.warning("ghl.opportunities.users-refused", extra={"connection_id": connection.pk, "error": str(exc)})
        users = None
    if users is not None:
        for user in users:
            name = user.get("name") or " ".join(p for p in (user.get("firstName"), user.get("lastName")) if p)
            crm_user_upsert_from_remote(**common, external_id=user["id"], name=name, email=user.get("email") or "",
                                        phone=user.get("phone") or "", connection_id=connection.pk)
        result.users = len(users)
        result.archived += mirrored_archive_missing(model=CrmUser, **common,
                                                    present_external_ids={u["id"] for u in users})
    reasons = client.opportunities.lost_reasons()
    result.requests += 1
    for reason in reasons:
        lost_reason_upsert_from_remote(**common, external_id=reason["id"], name=reason.get("name") or "",
                                       connection_id=connection.pk)
    result.lost_reasons = len(reasons)
    result.archived += mirrored_archive_missing(model=LostReason, **common,
                                                present_external_ids={r["id"] for r in reasons})
    result.custom_fields_added = opportunity_mapping_refresh(connection=connection, client=client)
    result.requests += 1
    result.currency = location_currency_refresh(connection=connection, client=client)
    result.requests += 1
    logger.info("ghl.opportunities.metadata-refreshed", extra={"connection_id": connection.pk, **result.__dict__})
    return result
