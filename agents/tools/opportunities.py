"""The opportunity tools: list_pipelines, find_opportunity, move_opportunity, update_opportunity,
create_opportunity.

Reads come from the local mirror. Writes go through `crm.services.opportunities` (which record the outbox
entry; GHL's opportunity pusher sends and confirms it) and then wait for GHL to confirm (`confirm.py`). Names are
resolved by `opportunity_resolve` and the stage/pipeline/user/lost-reason resolvers below: fuzzy (case, accents,
a typo), `ambiguous` when two are about as likely, never a guess.
"""
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.utils import timezone
from rapidfuzz import fuzz

from crm.currency import currency_for, money_display
from crm.models import CrmUser, ExternalIdentity, LostReason, Opportunity, Pipeline, PipelineStage
from crm.services.opportunities import opportunity_change, opportunity_open, opportunity_plan_change

from .confirm import push_wait, write_targets_require
from .dispatch import ToolContext
from .errors import ToolError
from .registry import Tool, registry
from .resolve import CLOSE_MARGIN, GHL_ID, LOCAL_ID_MAX_DIGITS, MAX_CANDIDATES, contact_resolve, contact_search, fold

GHL = "ghl"
MATCH_THRESHOLD = 72
# Stage, pipeline, user and reason names are short and few: a looser floor lets "Signed contract" reach
# "Contacted" (75); a typo in the right one still scores 90 or more.
NAMED_THRESHOLD = 82
NAME_SCAN_LIMIT = 20_000  # deals of one organisation scored in Python (no trigram index: few per organisation)
# Words people wrap a deal's name in ("the Acme deal"); dropped before matching when the name lacks them.
FILLER_WORDS = {"the", "deal", "opportunity", "opp", "a", "an"}
# Deal values carry two decimal places (the model field); a database SUM need not (SQLite answers 12500).
CENTS = Decimal("0.01")
STATUS = {"type": "string", "enum": list(Opportunity.Status.values)}

OPPORTUNITY_REF = {
    "type": "string", "minLength": 1, "maxLength": 320,
    "description": "Which deal: its opportunity_id, its GHL opportunity id, its name (fuzzy: case, a typo), or "
                   "its contact's name/email when that person has exactly one open deal.",
}
STAGE_REF = {"type": "string", "minLength": 1, "maxLength": 200,
             "description": "A stage's name (fuzzy: case, a typo, e.g. \"proposal sent\"), its stage_id or its GHL "
                            "stage id."}
PIPELINE_REF = {"type": "string", "minLength": 1, "maxLength": 200,
                "description": "A pipeline's name (fuzzy), its pipeline_id or GHL pipeline id."}
MONEY = {"type": ["number", "string"], "description": "An amount in the account's currency (the `currency` of its "
                                                      "deals, e.g. EUR), e.g. 12500 or \"12500.50\" (no currency "
                                                      "sign)."}
OPPORTUNITY_OUT = {"type": "object", "properties": {
    "opportunity_id": {"type": "integer"}, "ghl_opportunity_id": {"type": ["string", "null"]},
    "name": {"type": "string"}, "pipeline": {"type": "string"}, "stage": {"type": "string"},
    "status": {"type": "string"}, "monetary_value": {"type": "string"}, "currency": {"type": "string"},
    "monetary_value_display": {"type": "string", "description": "The amount as said, with its currency sign."},
    "contact": {"type": ["object", "null"]}, "assigned_to": {"type": ["string", "null"]},
    "lost_reason": {"type": ["string", "null"]}, "synced_at": {"type": ["string", "null"]},
}, "required": ["opportunity_id", "name", "pipeline", "stage", "status", "monetary_value"]}
WRITE_OUT = {"type": "object", "required": ["status"], "properties": {
    "status": {"type": "string", "enum": ["confirmed", "queued", "rejected", "unchanged", "existing", "dry_run"],
               "description": "confirmed: GHL has it; queued: saved here, GHL gets it shortly; rejected: GHL "
                              "refused it (see ghl_error); dry_run: nothing was changed."},
    "opportunity": OPPORTUNITY_OUT,
    "changes": {"type": "object", "description": "field -> {from, to}: what changed (or would)."},
    "ghl_error": {"type": "string"}, "resolved": {"type": "object"},
}}


# -- shaping ---------------------------------------------------------------------------------------------------
def _links(organization, model, ids) -> dict[int, ExternalIdentity]:
    ct = ContentType.objects.get_for_model(model)
    rows = ExternalIdentity.objects.for_org(organization).filter(provider=GHL, content_type=ct, object_id__in=ids)
    return {row.object_id: row for row in rows}


def opportunity_out(opp: Opportunity, link: ExternalIdentity | None) -> dict[str, Any]:
    contact = opp.contact
    return {
        "opportunity_id": opp.pk, "ghl_opportunity_id": link.external_id if link else None, "name": opp.name,
        "pipeline": opp.pipeline.name, "stage": opp.stage.name + (" (archived stage)" if opp.stage.is_archived else ""),
        "status": opp.status, "monetary_value": str(opp.monetary_value), "currency": opp.currency,
        "monetary_value_display": money_display(opp.monetary_value, opp.currency),
        "contact": {"contact_id": contact.pk, "name": contact.full_name, "email": contact.email,
                    "phone": contact.phone} if contact else None,
        "assigned_to": str(opp.assignee) if opp.assignee_id else None,
        "lost_reason": opp.lost_reason.name if opp.lost_reason_id else None,
        "synced_at": link.last_synced_at.isoformat() if link and link.last_synced_at else None,
    }


def _out(ctx: ToolContext, opp: Opportunity) -> dict[str, Any]:
    opp = _opportunities(ctx.organization).get(pk=opp.pk)
    return opportunity_out(opp, _links(ctx.organization, Opportunity, [opp.pk]).get(opp.pk))


def _opportunities(organization):
    return (Opportunity.objects.for_org(organization).filter(is_archived=False)
            .select_related("pipeline", "stage", "contact", "assignee", "lost_reason"))


def _candidate(opp: Opportunity, score: float | None = None) -> dict[str, Any]:
    return {"opportunity_id": opp.pk, "name": opp.name, "pipeline": opp.pipeline.name, "stage": opp.stage.name,
            "status": opp.status, "monetary_value": str(opp.monetary_value), "currency": opp.currency,
            "monetary_value_display": money_display(opp.monetary_value, opp.currency),
            "contact": opp.contact.full_name if opp.contact_id else None,
            **({"score": score} if score is not None else {})}


# -- resolution ------------------------------------------------------------------------------------------------
def _score(query: str, name: str) -> float:
    """0..100: how well a deal/stage/pipeline name matches (case, accents, a typo, filler words)."""
    target = fold(name)
    if not target:
        return 0.0
    variants = {fold(query)}
    words = fold(query).split()
    kept = [w for w in words if w not in FILLER_WORDS or w in target.split()]
    if kept:
        variants.add(" ".join(kept))
    best = 0.0
    for variant in variants:
        best = max(best, fuzz.ratio(variant, target), fuzz.token_sort_ratio(variant, target),
                   fuzz.token_set_ratio(variant, target) - 2)
    return round(best, 1)


def _ranked(query: str, rows, name_of, threshold: float = MATCH_THRESHOLD) -> list[tuple[float, Any]]:
    scored = sorted(((_score(query, name_of(r)), r) for r in rows), key=lambda x: (-x[0], x[1].pk))
    return [(s, r) for s, r in scored if s >= threshold]


def _is_local_id(query: str) -> bool:
    return query.isdigit() and len(query) <= LOCAL_ID_MAX_DIGITS


def _by_ids(organization, model, query: str, queryset):
    if _is_local_id(query):
        return list(queryset.filter(pk=int(query)))
    if GHL_ID.match(query) or "-" in query:
        ct = ContentType.objects.get_for_model(model)
        ids = (ExternalIdentity.objects.for_org(organization).filter(content_type=ct, external_id=query)
               .values_list("object_id", flat=True))
        return list(queryset.filter(pk__in=list(ids)))
    return []


def opportunity_search(*, organization, query: str, pipeline: Pipeline | None = None, status: str | None = None,
                       limit: int = MAX_CANDIDATES) -> list[tuple[float, Opportunity, str]]:
    """(score, deal, matched_by) best first: by id, GHL id, the deal's name, then its contact."""
    query = " ".join((query or "").split())
    deals = _opportunities(organization)
    if pipeline is not None:
        deals = deals.filter(pipeline=pipeline)
    if status:
        deals = deals.filter(status=status)
    exact = _by_ids(organization, Opportunity, query, deals)
    if exact or _is_local_id(query):
        # A number is a deal's id or nothing: the contact with that id is not "their deal".
        return [(100.0, d, "id") for d in exact]
    named = [(s, d, "name") for s, d in _ranked(query, deals.order_by("id")[:NAME_SCAN_LIMIT], lambda d: d.name)]
    people = contact_search(organization=organization, query=query, limit=MAX_CANDIDATES)
    by_contact = []
    if people:
        best = people[0].score
        ids = [m.contact.pk for m in people if m.score >= best - CLOSE_MARGIN]
        by_contact = [(min(m.score for m in people if m.contact.pk == d.contact_id), d, "contact")
                      for d in deals.filter(contact_id__in=ids).order_by("id")]
    seen, out = set(), []
    for item in sorted([*named, *by_contact], key=lambda x: (-x[0], x[1].pk)):
        if item[1].pk not in seen:
            seen.add(item[1].pk)
            out.append(item)
    return out[:limit]


def opportunity_resolve(*, organization, ref: str, pipeline: Pipeline | None = None) -> tuple[Opportunity, dict]:
    """Exactly one deal for `ref` (see OPPORTUNITY_REF), or `not_found` / `ambiguous`."""
    query = str(ref).strip()
    deals = _opportunities(organization) if pipeline is None else _opportunities(organization).filter(pipeline=pipeline)
    exact = _by_ids(organization, Opportunity, query, deals)
    if len(exact) == 1:
        return exact[0], {"query": query, "matched_by": "id", "opportunity_id": exact[0].pk}
    if _is_local_id(query):
        # A number is a deal's id or nothing: never the contact (or, in another organization, the deal) with it.
        raise ToolError("not_found", f"No deal has the id {query}.", field="opportunity",
                        hint="Use an opportunity_id from find_opportunity, or the deal's name.")
    named = _ranked(query, deals.order_by("id")[:NAME_SCAN_LIMIT], lambda d: d.name)
    if named:
        close = [(s, d) for s, d in named if s >= named[0][0] - CLOSE_MARGIN]
        if len(close) > 1:
            raise ToolError("ambiguous", f"{len(close)} deals match “{query}” about equally well.",
                            field="opportunity", candidates=[_candidate(d, s) for s, d in close[:MAX_CANDIDATES]],
                            hint="Call again with the right candidate's opportunity_id; ask the user if unsure.")
        return close[0][1], {"query": query, "matched_by": "name", "score": close[0][0],
                             "opportunity_id": close[0][1].pk, "name": close[0][1].name}
    try:
        person = contact_resolve(organization=organization, ref=query).contact
    except ToolError as exc:
        if exc.code == "ambiguous":
            raise exc.within("opportunity") from None
        person = None
    if person is not None:
        open_deals = list(deals.filter(contact=person, status=Opportunity.Status.OPEN).order_by("id"))
        if len(open_deals) == 1:
            return open_deals[0], {"query": query, "matched_by": "contact", "contact_id": person.pk,
                                   "opportunity_id": open_deals[0].pk, "name": open_deals[0].name}
        if len(open_deals) > 1:
            raise ToolError("ambiguous", f"{person} has {len(open_deals)} open deals.", field="opportunity",
                            candidates=[_candidate(d) for d in open_deals[:MAX_CANDIDATES]],
                            hint="Call again with the deal's name or opportunity_id.")
    raise ToolError("not_found", f"No deal matches “{query}”.", field="opportunity",
                    hint="Check the spelling or call find_opportunity with part of the name or the contact.")


def _resolve_named(*, rows, query: str, what: str, field: str, organization, model, name_of=lambda r: r.name):
    query = str(query).strip()
    exact = [r for r in _by_ids(organization, model, query, model.objects.for_org(organization)) if r in rows]
    if exact:
        return exact[0]
    ranked = _ranked(query, rows, name_of, NAMED_THRESHOLD)
    listed = ", ".join(name_of(r) for r in rows[:20])
    if not ranked:
        raise ToolError("not_found", f"No {what} matches “{query}”.", field=field,
                        hint=f"Use one of: {listed}." if rows else f"There are no {what}s to choose from.")
    close = [(s, r) for s, r in ranked if s >= ranked[0][0] - CLOSE_MARGIN]
    if len(close) > 1 and ranked[0][0] < 100:
        raise ToolError("ambiguous", f"{len(close)} {what}s match “{query}” about equally well.", field=field,
                        candidates=[{f"{field}_id": r.pk, "name": name_of(r), "score": s} for s, r in close],
                        hint="Call again with the exact name or id.")
    return ranked[0][1]


def stage_resolve(*, pipeline: Pipeline, ref: str) -> PipelineStage:
    stages = list(pipeline.stages.filter(is_archived=False).order_by("position", "id"))
    return _resolve_named(rows=stages, query=ref, what=f"stage of pipeline {pipeline.name!r}", field="stage",
                          organization=pipeline.organization_id, model=PipelineStage)


def pipeline_resolve(*, organization, ref: str | None) -> Pipeline:
    pipelines = list(Pipeline.objects.for_org(organization).filter(is_archived=False).order_by("name", "id"))
    if ref is None:
        if len(pipelines) == 1:
            return pipelines[0]
        if not pipelines:
            raise ToolError("not_found", "This organization has no pipeline.", field="pipeline")
        raise ToolError("ambiguous", "Several pipelines exist: say which.", field="pipeline",
                        candidates=[{"pipeline_id": p.pk, "name": p.name} for p in pipelines])
    return _resolve_named(rows=pipelines, query=ref, what="pipeline", field="pipeline", organization=organization,
                          model=Pipeline)


def user_resolve(*, organization, ref: str) -> CrmUser:
    users = list(CrmUser.objects.for_org(organization).filter(is_archived=False).order_by("name", "id"))
    if "@" in ref:
        match = [u for u in users if u.email == ref.strip().lower()]
        if match:
            return match[0]
        raise ToolError("not_found", f"No GHL user has the email {ref}.", field="assigned_to",
                        hint="Use one of: " + ", ".join(f"{u.name} <{u.email}>" for u in users[:20]))
    return _resolve_named(rows=users, query=ref, what="GHL user", field="assigned_to", organization=organization,
                          model=CrmUser)


def lost_reason_resolve(*, organization, ref: str) -> LostReason:
    reasons = list(LostReason.objects.for_org(organization).filter(is_archived=False).order_by("name", "id"))
    return _resolve_named(rows=reasons, query=ref, what="lost reason", field="lost_reason",
                          organization=organization, model=LostReason)


# -- reads -------------------------------------------------------------------------------------------------------
def list_pipelines(ctx: ToolContext) -> dict[str, Any]:
    pipelines = Pipeline.objects.for_org(ctx.organization).filter(is_archived=False).order_by("name", "id")
    totals = {row["stage"]: row for row in _opportunities(ctx.organization).filter(status=Opportunity.Status.OPEN)
              .values("stage").annotate(n=Count("id"), value=Sum("monetary_value"))}
    currency = currency_for(ctx.organization)
    out = []
    for pipeline in pipelines:
        stages = pipeline.stages.filter(is_archived=False).order_by("position", "id")
        out.append({"pipeline_id": pipeline.pk, "name": pipeline.name, "stages": [
            {"stage_id": s.pk, "name": s.name, "position": i,
             "open_opportunities": totals.get(s.pk, {}).get("n", 0),
             "open_value": str((totals.get(s.pk, {}).get("value") or Decimal("0")).quantize(CENTS)),
             "open_value_display": money_display(totals.get(s.pk, {}).get("value") or 0, currency)}
            for i, s in enumerate(stages)]})
    return {"pipelines": out, "count": len(out), "currency": currency}


def find_opportunity(ctx: ToolContext, *, query: str, pipeline: str | None = None,
                     status: str | None = None) -> dict[str, Any]:
    in_pipeline = pipeline_resolve(organization=ctx.organization, ref=pipeline) if pipeline else None
    found = opportunity_search(organization=ctx.organization, query=query, pipeline=in_pipeline, status=status,
                               limit=10)
    links = _links(ctx.organization, Opportunity, [d.pk for _, d, _ in found])
    matches = [{**opportunity_out(d, links.get(d.pk)), "score": s, "matched_by": by} for s, d, by in found]
    return {"matches": matches, "count": len(matches)}


# -- writes ------------------------------------------------------------------------------------------------------
def _invalid(exc: ValidationError) -> ToolError:
    field, messages = next(iter(exc.message_dict.items())) if hasattr(exc, "error_dict") else ("", exc.messages)
    field = {"assignee": "assigned_to"}.get(field, field)
    return ToolError("invalid", f"`{field}`: {' '.join(messages)}" if field else " ".join(messages),
                     field=field or None, hint=f"Correct `{field}` and call again." if field else None)


def _written(ctx: ToolContext, opp: Opportunity, since, result: dict[str, Any]) -> dict[str, Any]:
    push = push_wait(obj=opp, since=since)
    result = {**result, "status": push.status, "opportunity": _out(ctx, opp)}
    if push.error:
        result["ghl_error"] = push.error
    ctx.outcome = push.status
    ctx.ghl_refs.extend(push.remote_ids.values())
    return result


def _change(ctx: ToolContext, opp: Opportunity, resolved: dict, **changes: Any) -> dict[str, Any]:
    try:
        plan = opportunity_plan_change(opportunity=opp, **changes)
    except ValidationError as exc:
        raise _invalid(exc)
    shown = {k: v.as_dict() for k, v in plan.items()}
    if not plan:
        ctx.outcome = "unchanged"
        return {"status": "unchanged", "changes": {}, "opportunity": _out(ctx, opp), "resolved": resolved}
    write_targets_require(organization=ctx.organization)
    if ctx.dry_run:
        ctx.outcome = "dry_run"
        return {"status": "dry_run", "changes": shown, "opportunity": _out(ctx, opp), "resolved": resolved}
    since = timezone.now()
    try:
        opportunity_change(opportunity=opp, **changes)
    except ValidationError as exc:
        raise _invalid(exc)
    return _written(ctx, opp, since, {"changes": shown, "resolved": resolved})


def move_opportunity(ctx: ToolContext, *, opportunity: str, stage: str, pipeline: str | None = None) -> dict[str, Any]:
    org = ctx.organization
    target = pipeline_resolve(organization=org, ref=pipeline) if pipeline else None
    opp, resolved = opportunity_resolve(organization=org, ref=opportunity)
    ctx.concerns(opp.contact_id)
    new_stage = stage_resolve(pipeline=target or opp.pipeline, ref=stage)
    resolved = {**resolved, "stage": new_stage.name, "stage_id": new_stage.pk, "pipeline": new_stage.pipeline.name}
    return _change(ctx, opp, resolved, stage=new_stage)


def update_opportunity(ctx: ToolContext, *, opportunity: str, name: str | None = None, monetary_value=None,
                       status: str | None = None, lost_reason: str | None = None,
                       assigned_to: str | None = None) -> dict[str, Any]:
    org = ctx.organization
    if all(v is None for v in (name, monetary_value, status, lost_reason, assigned_to)):
        raise ToolError("invalid", "Nothing to change.", hint="Give at least one of name, monetary_value, status, "
                        "lost_reason, assigned_to.")
    opp, resolved = opportunity_resolve(organization=org, ref=opportunity)
    ctx.concerns(opp.contact_id)
    changes: dict[str, Any] = {"name": name, "status": status, "monetary_value": monetary_value}
    if lost_reason is not None:
        changes["lost_reason"] = lost_reason_resolve(organization=org, ref=lost_reason)
    if assigned_to is not None:
        changes["assignee"] = user_resolve(organization=org, ref=assigned_to)
    return _change(ctx, opp, resolved, **changes)


def create_opportunity(ctx: ToolContext, *, contact: str, name: str, pipeline: str | None = None,
                       stage: str | None = None, monetary_value=None) -> dict[str, Any]:
    org = ctx.organization
    person = contact_resolve(organization=org, ref=contact).contact
    ctx.concerns(person)
    in_pipeline = pipeline_resolve(organization=org, ref=pipeline)
    first = in_pipeline.stages.filter(is_archived=False).order_by("position", "id").first()
    at_stage = stage_resolve(pipeline=in_pipeline, ref=stage) if stage else first
    if at_stage is None:
        raise ToolError("invalid", f"Pipeline {in_pipeline.name!r} has no stage.", field="pipeline")
    resolved = {"contact_id": person.pk, "contact": person.full_name, "pipeline": in_pipeline.name,
                "stage": at_stage.name}
    same = _opportunities(org).filter(contact=person, pipeline=in_pipeline, name__iexact=name.strip()).first()
    if same is not None:
        ctx.outcome = "existing"
        return {"status": "existing", "opportunity": _out(ctx, same), "resolved": resolved}
    changes = {"name": {"from": None, "to": name.strip()}, "stage": {"from": None, "to": at_stage.name},
               "monetary_value": {"from": None, "to": str(monetary_value if monetary_value is not None else 0)}}
    write_targets_require(organization=org)
    if ctx.dry_run:
        ctx.outcome = "dry_run"
        return {"status": "dry_run", "would": "create", "changes": changes, "resolved": resolved}
    since = timezone.now()
    try:
        opp = opportunity_open(organization=org, name=name, contact=person, pipeline=in_pipeline, stage=at_stage,
                               monetary_value=monetary_value if monetary_value is not None else 0,
                               currency=_currency(org))
    except ValidationError as exc:
        raise _invalid(exc)
    return _written(ctx, opp, since, {"changes": changes, "resolved": resolved})


def _currency(org) -> str:
    return currency_for(org)


# -- declarations ------------------------------------------------------------------------------------------------
_ERRORS = ("Errors: `not_found` (check the spelling, or find_opportunity), `ambiguous` (several match: pick one of "
           "`candidates` by id, or ask the user)")
_WRITE_NOTE = ("Writes go to GoHighLevel and wait a few seconds for it to confirm: `status` is `confirmed` (GHL has "
               "it) or `queued` (saved, GHL gets it shortly); `rejected` carries GHL's reason in `ghl_error`. Pass "
               "`dry_run: true` to see the change as old → new without making it, and an `idempotency_key` to make a "
               "retry safe. `not_connected` means GHL is not connected.")

registry.register(Tool(
    name="list_pipelines", family="opportunities", title="List pipelines",
    description="The organization's pipelines with their stages in order, and how many open deals (and their "
                "total value) sit in each stage. Use it to learn the stage names before moving a deal.",
    input_schema={"type": "object", "additionalProperties": False, "properties": {}},
    output_schema={"type": "object", "required": ["pipelines", "count"], "properties": {
        "pipelines": {"type": "array", "items": {"type": "object"}}, "count": {"type": "integer"}}},
    fn=list_pipelines,
))
registry.register(Tool(
    name="find_opportunity", family="opportunities", title="Find a deal",
    description="Search deals by their name or by their contact's name, email or phone (fuzzy), optionally in one "
                "pipeline or with one status. Returns up to 10 matches with stage, value, status and contact.",
    input_schema={"type": "object", "additionalProperties": False, "required": ["query"], "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 320,
                  "description": "A deal's name, or a contact's name, email or phone."},
        "pipeline": PIPELINE_REF, "status": STATUS,
    }},
    output_schema={"type": "object", "required": ["matches", "count"], "properties": {
        "matches": {"type": "array", "items": OPPORTUNITY_OUT}, "count": {"type": "integer"}}},
    fn=find_opportunity,
))
registry.register(Tool(
    name="move_opportunity", family="opportunities", writes=True, title="Move a deal to a stage",
    description="Move a deal to another stage (\"move the Acme deal to Proposal Sent\"). The stage is matched by "
                "name in the deal's pipeline (or in `pipeline`, which moves it there). " + _ERRORS
                + "; an `ambiguous` stage lists the stages that match. " + _WRITE_NOTE,
    input_schema={"type": "object", "additionalProperties": False, "required": ["opportunity", "stage"],
                  "properties": {"opportunity": OPPORTUNITY_REF, "stage": STAGE_REF, "pipeline": PIPELINE_REF}},
    output_schema=WRITE_OUT, fn=move_opportunity,
))
registry.register(Tool(
    name="update_opportunity", family="opportunities", writes=True, money=True, title="Update a deal",
    description="Change a deal's name, value, status (open, won, lost, abandoned; `lost_reason` with lost) or "
                "assignee (a GHL user's name or email). Only what really changes is sent; a dry run says each "
                f"change as old → new. {_ERRORS}. {_WRITE_NOTE}",
    input_schema={"type": "object", "additionalProperties": False, "required": ["opportunity"], "properties": {
        "opportunity": OPPORTUNITY_REF, "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "monetary_value": MONEY, "status": STATUS,
        "lost_reason": {"type": "string", "minLength": 1, "maxLength": 200,
                        "description": "One of the account's lost reasons, by name (with status lost)."},
        "assigned_to": {"type": "string", "minLength": 1, "maxLength": 254,
                        "description": "A GHL user of the account, by name or email."},
    }},
    output_schema=WRITE_OUT, fn=update_opportunity,
))
registry.register(Tool(
    name="create_opportunity", family="opportunities", writes=True, money=True, title="Create a deal",
    description="Open a new deal for a contact, in `pipeline` (needed when there are several) at `stage` (default: "
                "the pipeline's first). A deal of that contact with the same name in that pipeline is returned "
                f"with `status: existing` instead of a second one. {_ERRORS}. {_WRITE_NOTE}",
    input_schema={"type": "object", "additionalProperties": False, "required": ["contact", "name"], "properties": {
        "contact": {"type": "string", "minLength": 1, "maxLength": 320,
                    "description": "Whose deal: a name, an email, a phone or a contact_id."},
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "pipeline": PIPELINE_REF, "stage": STAGE_REF, "monetary_value": MONEY,
    }},
    output_schema=WRITE_OUT, fn=create_opportunity,
))


def contact_open_opportunities(organization, contact) -> list[dict[str, Any]]:
    """The contact's open deals, for get_contact_context."""
    deals = list(_opportunities(organization).filter(contact=contact, status=Opportunity.Status.OPEN)
                 .order_by("-updated_at", "id")[:10])
    links = _links(organization, Opportunity, [d.pk for d in deals])
    return [{k: v for k, v in opportunity_out(d, links.get(d.pk)).items() if k != "contact"} for d in deals]

