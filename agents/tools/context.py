"""The context tools: get_business_context, list_users.

What an agent needs before anything else: whose business it works for, where and when it is there, whether
GoHighLevel is connected, the names the other tools take (pipelines and stages, calendars, users), how much
the mirror holds and how fresh it is, and what the agent itself may do. All read from the local mirror (no
GHL request), scoped to the key's organization, each with `synced_at`.
"""
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Max, Q
from django.utils import timezone

from crm.account import crm_account_for
from crm.currency import currency_for
from crm.models import Calendar, CrmUser, ExternalIdentity, Pipeline, PipelineStage
from crm.selectors.mirror import COUNT_CAP, mirror_summary, newest_of

from ..models import TOOL_FAMILIES, Agent
from ..runner.context import organization_zone_and_source
from .dispatch import ToolContext
from .registry import Tool, registry

GHL = "ghl"
USERS_IN_CONTEXT = 50
USERS_LIMIT = 200
ZONE_SOURCES = {"account": "location", "calendars": "calendars", "default": "default"}


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _links(organization, model, ids: list[int]) -> dict[int, ExternalIdentity]:
    ct = ContentType.objects.get_for_model(model)
    rows = ExternalIdentity.objects.for_org(organization).filter(provider=GHL, content_type=ct, object_id__in=ids)
    return {row.object_id: row for row in rows}


def _users(organization, *, query: str = "", limit: int) -> tuple[list[dict[str, Any]], bool]:
    rows = CrmUser.objects.for_org(organization).filter(is_archived=False)
    for word in query.split():
        rows = rows.filter(Q(name__icontains=word) | Q(email__icontains=word))
    found = list(rows.order_by("name", "id")[:limit + 1])
    links = _links(organization, CrmUser, [u.pk for u in found[:limit]])
    return [{"user_id": u.pk, "ghl_user_id": links[u.pk].external_id if u.pk in links else None, "name": u.name,
             "email": u.email, "phone": u.phone,
             "synced_at": _iso(links[u.pk].last_synced_at) if u.pk in links else None}
            for u in found[:limit]], len(found) > limit


def _pipelines(organization) -> list[dict[str, Any]]:
    pipelines = list(Pipeline.objects.for_org(organization).filter(is_archived=False).order_by("name", "id"))
    stages: dict[int, list[dict[str, Any]]] = {}
    for stage in (PipelineStage.objects.for_org(organization).filter(pipeline__in=pipelines, is_archived=False)
                  .order_by("position", "id")):
        stages.setdefault(stage.pipeline_id, []).append({"stage_id": stage.pk, "name": stage.name})
    return [{"pipeline_id": p.pk, "name": p.name, "stages": stages.get(p.pk, [])} for p in pipelines]


def _calendars(organization) -> list[dict[str, Any]]:
    calendars = list(Calendar.objects.for_org(organization).filter(is_archived=False).order_by("name", "id"))
    return [{"calendar_id": c.pk, "name": c.name, "timezone": c.timezone or "UTC", "is_active": c.is_active,
             "slot_duration_minutes": c.slot_duration_minutes} for c in calendars]


# -- tools -------------------------------------------------------------------------------------------------------
def get_business_context(ctx: ToolContext) -> dict[str, Any]:
    org, agent = ctx.organization, ctx.agent
    account = crm_account_for(org)
    zone, source = organization_zone_and_source(org, account=account)
    now = timezone.now().astimezone(zone)
    mirror = mirror_summary(organization=org)
    users, more_users = _users(org, limit=USERS_IN_CONTEXT)
    families = [f for f in agent.enabled_families or [] if f in TOOL_FAMILIES]
    return {
        "organization": {"name": org.name},
        "connection": account.connection if account is not None else "not_connected",
        "account": None if account is None else {
            "provider": account.provider, "location_id": account.account_id, "location_name": account.name,
            "connection": account.connection, "status": account.status, "connected_at": _iso(account.connected_at),
        },
        "timezone": zone.key, "timezone_source": ZONE_SOURCES[source],
        "now": now.isoformat(timespec="seconds"), "today": now.date().isoformat(), "weekday": now.strftime("%A"),
        "currency": currency_for(org),
        "pipelines": _pipelines(org), "calendars": _calendars(org), "users": users, "users_truncated": more_users,
        "mirror": {kind: {**counts, "synced_at": _iso(counts["synced_at"])} for kind, counts in mirror.items()},
        "agent": {"name": agent.name, "enabled_families": families, "write_policy": agent.write_policy,
                  "write_policy_means": Agent.WritePolicy(agent.write_policy).label,
                  "tools": [t.name for t in registry.all(families=families)]},
        "synced_at": _iso(newest_of(*(counts["synced_at"] for counts in mirror.values()))),
    }


def list_users(ctx: ToolContext, *, query: str = "", limit: int = 50) -> dict[str, Any]:
    users, more = _users(ctx.organization, query=query, limit=min(limit, USERS_LIMIT))
    synced_at = ExternalIdentity.objects.for_org(ctx.organization).filter(
        provider=GHL, content_type=ContentType.objects.get_for_model(CrmUser)).aggregate(
        last=Max("last_synced_at"))["last"]
    return {"users": users, "count": len(users), "truncated": more, "synced_at": _iso(synced_at)}


# -- declarations ------------------------------------------------------------------------------------------------
SYNCED_AT = {"type": ["string", "null"], "description": "When the mirror last agreed with GoHighLevel about it "
                                                        "(null: never)."}
USER_OUT = {"type": "object", "required": ["user_id", "name"], "properties": {
    "user_id": {"type": "integer"}, "ghl_user_id": {"type": ["string", "null"]}, "name": {"type": "string"},
    "email": {"type": "string"}, "phone": {"type": "string"}, "synced_at": SYNCED_AT}}
KIND_OUT = {"type": "object", "properties": {
    "count": {"type": "integer", "description": f"Live records here (counted up to {COUNT_CAP:,})."},
    "linked": {"type": "integer", "description": f"Of them, linked to a GoHighLevel record (up to {COUNT_CAP:,})."},
    "capped": {"type": "boolean", "description": f"True: a count reached {COUNT_CAP:,}, so there are at least "
                                                 "that many."},
    "synced_at": SYNCED_AT}}

registry.register(Tool(
    name="get_business_context", family="context", title="Business context",
    description="Call this first. Whose business you work for and where you stand: the organization, its "
                "GoHighLevel location and whether it is connected (`connection`: connected / not_connected; "
                "not connected means writes answer `not_connected`, reads still work), the business's time zone "
                "and its current local date and time (`now`, `today`, `weekday`: read \"tomorrow\" or \"Friday\" "
                "from them), the currency of deal amounts, the pipelines with their stages, the calendars and "
                "the users deals can be assigned to (the names the other tools take), how many contacts, deals, "
                "appointments and conversations the mirror holds and how fresh each is (`synced_at`), and your "
                "own name, enabled tool families, tools and write policy. Read from the local mirror: no "
                "GoHighLevel request. No errors of its own.",
    input_schema={"type": "object", "additionalProperties": False, "properties": {}},
    output_schema={"type": "object", "required": ["organization", "connection", "timezone", "now", "today",
                                                  "currency", "agent"], "properties": {
        "organization": {"type": "object", "properties": {"name": {"type": "string"}}},
        "connection": {"type": "string", "enum": ["connected", "not_connected"]},
        "account": {"type": ["object", "null"], "description": "The GoHighLevel location (null: never connected).",
                    "properties": {"provider": {"type": "string"}, "location_id": {"type": "string"},
                                   "location_name": {"type": "string"}, "connection": {"type": "string"},
                                   "status": {"type": "string"}, "connected_at": {"type": ["string", "null"]}}},
        "timezone": {"type": "string", "description": "IANA zone of the business."},
        "timezone_source": {"type": "string", "enum": list(ZONE_SOURCES.values()),
                            "description": "location: the GoHighLevel location's; calendars: its calendars' "
                                           "shared zone; default: UTC (nothing says otherwise)."},
        "now": {"type": "string", "description": "The business's local date-time, ISO with offset."},
        "today": {"type": "string"}, "weekday": {"type": "string"},
        "currency": {"type": "string", "description": "ISO 4217 code of deal amounts."},
        "pipelines": {"type": "array", "items": {"type": "object"}},
        "calendars": {"type": "array", "items": {"type": "object"}},
        "users": {"type": "array", "items": USER_OUT, "description": f"The first {USERS_IN_CONTEXT} by name; "
                                                                    "list_users finds the others."},
        "users_truncated": {"type": "boolean"},
        "mirror": {"type": "object", "additionalProperties": KIND_OUT,
                   "description": "Per kind (contacts, opportunities, pipelines, calendars, appointments, users, "
                                  "conversations): count, linked, synced_at."},
        "agent": {"type": "object", "properties": {
            "name": {"type": "string"}, "enabled_families": {"type": "array", "items": {"type": "string"}},
            "write_policy": {"type": "string", "enum": list(Agent.WritePolicy.values)},
            "write_policy_means": {"type": "string"}, "tools": {"type": "array", "items": {"type": "string"}}}},
        "synced_at": {**SYNCED_AT, "description": "The newest of the kinds' synced_at."},
    }},
    fn=get_business_context,
))
registry.register(Tool(
    name="list_users", family="context", title="List users",
    description="The GoHighLevel users of the location (the people deals are assigned to), by name, from the "
                "local mirror. `query` keeps those whose name (or email) contains every word of it. Use their "
                "`name` as `assigned_to` in update_opportunity. No errors of its own; an empty list means no user "
                "matches (or none is mirrored yet: see get_business_context's mirror.users).",
    input_schema={"type": "object", "additionalProperties": False, "properties": {
        "query": {"type": "string", "maxLength": 200, "description": "Part of a name or email, e.g. \"sam\"."},
        "limit": {"type": "integer", "minimum": 1, "maximum": USERS_LIMIT, "default": 50}}},
    output_schema={"type": "object", "required": ["users", "count"], "properties": {
        "users": {"type": "array", "items": USER_OUT}, "count": {"type": "integer"},
        "truncated": {"type": "boolean"},
        "synced_at": {**SYNCED_AT, "description": "The newest time a user's record agreed with GoHighLevel."}}},
    fn=list_users,
))
