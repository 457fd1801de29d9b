"""Writes of the agents app: agents, keys (created, authenticated, revoked) and the audit."""
import hashlib
import logging
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenancy.models import Organization

from .models import TOOL_FAMILIES, Agent, ApiKey, ToolCall

logger = logging.getLogger(__name__)

KEY_PREFIX = "al_"
# last_used_at is written at most this often per key, so a busy key does not write a row on every call.
LAST_USED_RESOLUTION = timedelta(seconds=30)


def _hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _families_clean(families: list[str]) -> list[str]:
    unknown = sorted(set(families) - set(TOOL_FAMILIES))
    if unknown:
        raise ValidationError({"enabled_families": f"Unknown tool families: {', '.join(unknown)}."})
    return [f for f in TOOL_FAMILIES if f in families]


def agent_create(*, organization: Organization, name: str, instructions: str = "",
                 enabled_families: list[str] | None = None) -> Agent:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "An agent needs a name."})
    families = list(TOOL_FAMILIES) if enabled_families is None else list(enabled_families)
    unknown = sorted(set(families) - set(TOOL_FAMILIES))
    if unknown:
        raise ValidationError({"enabled_families": f"Unknown tool families: {', '.join(unknown)}."})
    if Agent.objects.for_org(organization).filter(name=name).exists():
        raise ValidationError({"name": f"This organization already has an agent named “{name}”."})
    return Agent.objects.create(organization=organization, name=name, instructions=instructions,
                                enabled_families=families)


def api_key_create(*, agent: Agent, label: str = "") -> tuple[ApiKey, str]:
    """A new key for `agent`; returns the row and the raw key, which is never stored and cannot be shown again."""
    prefix = secrets.token_hex(4)
    raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(organization_id=agent.organization_id, agent=agent, prefix=prefix,
                                key_hash=_hash_key(raw), label=label)
    return key, raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The active key whose hash matches `raw` (with its agent and organization), or None."""
    raw = (raw or "").strip()
    if not raw.startswith(KEY_PREFIX) or len(raw) > 200:
        return None
    key = (ApiKey.objects.select_related("agent", "organization")
           .filter(key_hash=_hash_key(raw), revoked_at__isnull=True, agent__is_active=True).first())
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def tool_call_record(*, organization_id: int, agent: Agent | None, key_prefix: str, surface: str, tool: str,
                     input: dict[str, Any], ok: bool, error_code: str = "", outcome: str = "",
                     dry_run: bool = False, idempotency_key: str = "", ghl_ids: list[str] | None = None,
                     ghl_request_ids: list[str] | None = None, latency_ms: float = 0,
                     call_id: uuid.UUID | None = None, contact_id: int | None = None,
                     outbox_entry_ids: list[int] | None = None, run_id: int | None = None) -> ToolCall:
    """Write the audit row of one call. `outbox_entry_ids`: the entries its writes recorded, whose pushes so far
    (by a worker, while the call waited) add their GHL request ids to the row (later ones: `agents.audit`)."""
    fields = dict(
        organization_id=organization_id, agent=agent, key_prefix=key_prefix, surface=surface, tool=tool[:64],
        input=input, ok=ok, error_code=error_code, outcome=outcome[:32], dry_run=dry_run,
        idempotency_key=idempotency_key[:255], ghl_ids=ghl_ids or [], ghl_request_ids=ghl_request_ids or [],
        latency_ms=latency_ms, call_id=call_id or uuid.uuid4(), contact_id=contact_id, run_id=run_id,
    )
    # Its own transaction: the audit row stays even when the tool's work rolled back.
    try:
        with transaction.atomic():
            row = ToolCall.objects.create(**fields)
    except IntegrityError:
        if contact_id is None:
            raise
        # The contact was deleted while the call ran: keep the row, without it.
        logger.info("agents.audit.contact-gone", extra={"contact_id": contact_id, "tool": tool})
        with transaction.atomic():
            row = ToolCall.objects.create(**{**fields, "contact_id": None})
    if outbox_entry_ids:
        from .audit import tool_call_request_ids_add
        from .tools.confirm import outbox_request_ids

        # After the row's commit: a push noted before it is read here, one noted after it finds the row.
        pushed = outbox_request_ids(organization_id=organization_id, entry_ids=outbox_entry_ids)
        if tool_call_request_ids_add(organization_id=organization_id, call_ids=[row.call_id], request_ids=pushed):
            row.refresh_from_db(fields=["ghl_request_ids"])
    return row


def _business_hours_problem(hours) -> str | None:
    if not isinstance(hours, list):
        return 'A list like [{"days": [1, 2, 3, 4, 5], "open": "09:00", "close": "17:00"}] (0 = Sunday).'
    for block in hours:
        if not isinstance(block, dict) or not isinstance(block.get("days"), list) or \
                any(not isinstance(d, int) or not 0 <= d <= 6 for d in block["days"]):
            return "Each block needs `days`: numbers 0 (Sunday) to 6."
        try:
            opens, closes = (datetime.strptime(str(block.get(k)), "%H:%M").time() for k in ("open", "close"))
        except ValueError:
            return "`open` and `close` are times like 09:00."
        if opens >= closes:
            return f"A block opens ({block['open']}) before it closes ({block['close']})."
    return None


def agent_update_settings(*, agent: Agent, write_policy: str, model: str = "", burst_seconds: int = 5,
                          takeover_minutes: int = 60, max_runs_per_contact_hour: int = 5, off_hours: str = "wait",
                          business_hours: list | None = None, enabled_families: list[str] | None = None) -> Agent:
    """The agent's write policy (approvals), model override, tool families (None: kept as they are) and
    good-employee settings, validated."""
    errors: dict[str, str] = {}
    families = None
    if enabled_families is not None:
        try:
            families = _families_clean(list(enabled_families))
        except ValidationError as exc:
            errors.update({k: " ".join(v) for k, v in exc.message_dict.items()})
    if write_policy not in Agent.WritePolicy.values:
        errors["write_policy"] = f"One of: {', '.join(Agent.WritePolicy.values)}."
    if off_hours not in Agent.OffHours.values:
        errors["off_hours"] = f"One of: {', '.join(Agent.OffHours.values)}."
    for name, value, top in (("burst_seconds", burst_seconds, 120), ("takeover_minutes", takeover_minutes, 10080),
                             ("max_runs_per_contact_hour", max_runs_per_contact_hour, 1000)):
        if not isinstance(value, int) or not 0 <= value <= top:
            errors[name] = f"A whole number from 0 to {top}."
    problem = _business_hours_problem(business_hours or [])
    if problem:
        errors["business_hours"] = problem
    if errors:
        raise ValidationError(errors)
    agent.write_policy, agent.model, agent.off_hours = write_policy, (model or "").strip()[:200], off_hours
    agent.burst_seconds, agent.takeover_minutes = burst_seconds, takeover_minutes
    agent.max_runs_per_contact_hour, agent.business_hours = max_runs_per_contact_hour, business_hours or []
    fields = ["write_policy", "model", "off_hours", "burst_seconds", "takeover_minutes", "max_runs_per_contact_hour",
              "business_hours"]
    if families is not None:
        agent.enabled_families = families
        fields.append("enabled_families")
    agent.save(update_fields=fields)
    return agent
