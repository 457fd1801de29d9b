"""The audit's link to work done after a tool call answered: GHL's request ids of the pushes of its writes.

A tool call runs inside `outbox_caused_by(tool_call_cause(call_id))`, so every outbox entry its writes record
(or merge into) carries the cause. When a worker pushes such an entry, `crm.sync.outbox` sends
`outbox_requests_sent`; `on_outbox_requests_sent` adds the request ids to the tool call's row. A push that
finished before the row existed (the usual case: the tool waits for GHL to confirm) is gathered when the row is
written (`tool_call_record` reads the entries the call recorded), so neither order loses an id.
"""
import logging
import uuid
from collections.abc import Iterable

from django.db import transaction

from .models import ToolCall

logger = logging.getLogger(__name__)

CAUSE_PREFIX = "agents.tool_call:"
MAX_REQUEST_IDS = 100  # per audit row: a write retried for hours must not grow it without bound


def tool_call_cause(call_id: uuid.UUID) -> str:
    return f"{CAUSE_PREFIX}{call_id}"


def _call_ids(causes: Iterable[str]) -> list[uuid.UUID]:
    ids = []
    for cause in causes:
        if isinstance(cause, str) and cause.startswith(CAUSE_PREFIX):
            try:
                ids.append(uuid.UUID(cause[len(CAUSE_PREFIX):]))
            except ValueError:
                logger.warning("agents.audit.bad-cause", extra={"cause": cause[:100]})
    return ids


def tool_call_request_ids_add(*, organization_id: int, call_ids: Iterable[uuid.UUID], request_ids: list[str]) -> int:
    """Add GHL request ids to the audit rows of these calls (of this organization only). Returns rows changed."""
    call_ids = list(call_ids)
    if not call_ids or not request_ids:
        return 0
    changed = 0
    with transaction.atomic():
        rows = ToolCall.objects.for_org(organization_id).select_for_update().filter(call_id__in=call_ids)
        for row in rows.only("pk", "ghl_request_ids"):
            merged = list(dict.fromkeys([*(row.ghl_request_ids or []), *request_ids]))[:MAX_REQUEST_IDS]
            if merged != row.ghl_request_ids:
                ToolCall.objects.filter(pk=row.pk).update(ghl_request_ids=merged)
                changed += 1
    return changed


def on_outbox_requests_sent(*, organization_id: int, entry_id: int, causes: list[str], request_ids: list[str],
                            **_) -> None:
    """`crm.sync.outbox.outbox_requests_sent` receiver (connected in `AgentsConfig.ready`)."""
    call_ids = _call_ids(causes)
    if call_ids:
        tool_call_request_ids_add(organization_id=organization_id, call_ids=call_ids, request_ids=request_ids)
