"""Opportunities and pipelines (`Version: 2021-07-28`, REFERENCE.md §e)."""
from urllib.parse import urlencode

from .. import constants as c
from ..app import route
from ..auth import public
from ..errors import bad_request, iso, new_id, parse_iso_ms, unprocessable
from . import search
from .contacts import resolve_custom_fields

V = c.VERSION_2021_07_28
STATUSES = ("open", "won", "lost", "abandoned")
WRITABLE = ("pipelineId", "name", "pipelineStageId", "status", "monetaryValue", "assignedTo", "source", "lostReasonId")
WEBHOOK_FIELDS = ("locationId", "id", "assignedTo", "contactId", "monetaryValue", "name", "pipelineId",
                  "pipelineStageId", "source", "status", "dateAdded")
SNAKE = {"monetary_value": "monetaryValue", "pipeline_id": "pipelineId", "pipeline_stage_id": "pipelineStageId",
         "lost_reason_id": "lostReasonId", "assigned_to": "assignedTo", "contact_id": "contactId",
         "date_added": "createdAt", "date_updated": "updatedAt", "last_status_change_date": "lastStatusChangeAt",
         "last_stage_change_date": "lastStageChangeAt"}
SORT_FIELDS = ("date_added", "date_updated", "name", "monetary_value", "last_status_change_date",
               "last_stage_change_date")
SPECIFIC_EVENTS = {"pipelineStageId": "OpportunityStageUpdate", "status": "OpportunityStatusUpdate",
                   "monetaryValue": "OpportunityMonetaryValueUpdate", "assignedTo": "OpportunityAssignedToUpdate"}


def _money(value) -> int | float:
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        raise unprocessable("monetaryValue must be a number")
    return int(number) if number.is_integer() else number


# -- services --------------------------------------------------------------------------------------------
def _pipeline_stage(store, location_id: str, pipeline_id: str, stage_id: str | None) -> str:
    pipeline = store.get("pipeline", pipeline_id or "")
    if pipeline is None or pipeline["locationId"] != location_id:
        raise bad_request("Pipeline not found")
    stage_ids = [s["id"] for s in pipeline["stages"]]
    if stage_id is None:
        return stage_ids[0]
    if stage_id not in stage_ids:
        raise bad_request("Pipeline stage not found in this pipeline")
    return stage_id


def _custom(store, location_id: str, items, current: list) -> list:
    values = {cf["id"]: cf["fieldValue"] for cf in current}
    values.update(resolve_custom_fields(store, location_id, items, model="opportunity"))
    return [{"id": k, "fieldValue": v} for k, v in values.items()]


def webhook_fields(doc: dict) -> dict:
    return {k: (doc.get("createdAt") if k == "dateAdded" else doc.get(k)) for k in WEBHOOK_FIELDS}


def save(store, doc: dict) -> dict:
    return store.put("opportunity", doc, location_id=doc["locationId"], sort_ms=parse_iso_ms(doc["createdAt"]))


def opportunity_create(sandbox, location_id: str, data: dict) -> dict:
    store = sandbox.store
    missing = [f for f in ("pipelineId", "name", "status", "contactId") if not data.get(f)]
    if missing:
        raise unprocessable(*(f"{f} should not be empty" for f in missing))
    if data["status"] not in STATUSES:
        raise unprocessable("status must be one of the following values: " + ", ".join(STATUSES))
    stage = _pipeline_stage(store, location_id, data["pipelineId"], data.get("pipelineStageId"))
    contact = store.get("contact", data["contactId"])
    if contact is None or contact["locationId"] != location_id:
        raise bad_request("Contact not found")
    location = store.get("location", location_id)
    if not location["settings"].get("allowDuplicateOpportunity", False):
        for opp in store.list("opportunity", location_id):
            if opp["contactId"] == contact["id"] and opp["pipelineId"] == data["pipelineId"]:
                raise bad_request("Can not create duplicate opportunity for the contact.")
    now = iso()
    doc = {"id": new_id(), "name": data["name"], "monetaryValue": _money(data.get("monetaryValue")),
           "pipelineId": data["pipelineId"], "pipelineStageId": stage, "assignedTo": data.get("assignedTo"),
           "status": data["status"], "source": data.get("source"), "lastStatusChangeAt": now,
           "lastStageChangeAt": now, "lastActionDate": now, "createdAt": now, "updatedAt": now,
           "contactId": contact["id"], "locationId": location_id, "lostReasonId": data.get("lostReasonId"),
           "customFields": _custom(store, location_id, data.get("customFields"), []), "followers": []}
    save(store, doc)
    sandbox.dispatcher.emit("OpportunityCreate", location_id, webhook_fields(doc))
    return doc


def opportunity_update(sandbox, doc: dict, data: dict) -> dict:
    store = sandbox.store
    clean = {k: data[k] for k in WRITABLE if k in data}
    if "status" in clean and clean["status"] not in STATUSES:
        raise unprocessable("status must be one of the following values: " + ", ".join(STATUSES))
    if "pipelineId" in clean or "pipelineStageId" in clean:
        pipeline_id = clean.get("pipelineId", doc["pipelineId"])
        stage = clean.get("pipelineStageId", doc["pipelineStageId"] if pipeline_id == doc["pipelineId"] else None)
        clean["pipelineStageId"] = _pipeline_stage(store, doc["locationId"], pipeline_id, stage)
    if "monetaryValue" in clean:
        clean["monetaryValue"] = _money(clean["monetaryValue"])
    before = dict(doc)
    doc.update(clean)
    if data.get("customFields") is not None:
        doc["customFields"] = _custom(store, doc["locationId"], data["customFields"], doc.get("customFields", []))
    now = iso()
    if before["status"] != doc["status"]:
        doc["lastStatusChangeAt"] = now
    if before["pipelineStageId"] != doc["pipelineStageId"]:
        doc["lastStageChangeAt"] = now
    doc["updatedAt"] = doc["lastActionDate"] = now
    save(store, doc)
    changed = [k for k in doc if k not in ("updatedAt", "lastActionDate", "lastStatusChangeAt",
                                           "lastStageChangeAt") and before.get(k) != doc.get(k)]
    specific = [SPECIFIC_EVENTS[k] for k in SPECIFIC_EVENTS if k in changed]
    if changed and (sandbox.config["webhooks"]["emit_generic_update"] or len(specific) < len(changed)):
        sandbox.dispatcher.emit("OpportunityUpdate", doc["locationId"], webhook_fields(doc))
    for event in specific:
        sandbox.dispatcher.emit(event, doc["locationId"], webhook_fields(doc))
    return doc


def opportunity_delete(sandbox, doc: dict) -> None:
    sandbox.store.delete("opportunity", doc["id"])
    sandbox.dispatcher.emit("OpportunityDelete", doc["locationId"], webhook_fields(doc))


# -- handlers --------------------------------------------------------------------------------------------
def _out(ctx, doc: dict) -> dict:
    contact = ctx.store.get("contact", doc["contactId"]) or {}
    return {**public(doc), "contact": {k: contact.get(k) for k in ("id", "name", "companyName", "email", "phone",
                                                                  "tags")},
            "notes": [], "tasks": [], "calendarEvents": []}


def pipelines(ctx):
    location_id = ctx.check_location(ctx.query.get("locationId"))
    return 200, {"pipelines": [public(p) for p in ctx.store.list("pipeline", location_id)]}


def lost_reasons(ctx):
    """`GET /opportunities/lost-reason`: the location's lost reasons, offset-paged (`skip`, `limit` ≤ 100)."""
    q = ctx.query
    location_id = ctx.check_location(q.get("locationId"))
    show_deleted = str(q.get("deleted", "false")).lower() == "true"
    docs = [d for d in ctx.store.list("lostReason", location_id) if bool(d.get("deleted")) == show_deleted]
    needle = (q.get("query") or q.get("name") or "").lower()
    if needle:
        docs = [d for d in docs if needle in d["name"].lower()]
    try:
        skip, limit = int(float(q.get("skip", 0) or 0)), min(int(float(q.get("limit", 100) or 100)), 100)
    except ValueError:
        raise unprocessable("skip and limit must be numbers")
    items = [{k: d.get(k) for k in ("id", "name", "locationId", "createdAt", "updatedAt")}
             for d in docs[skip:skip + limit]]
    return 200, {"lostReasons": items, "total": len(docs)}


def get_opportunity(ctx):
    return 200, {"opportunity": _out(ctx, ctx.load("opportunity", ctx.params["id"], "Opportunity"))}


def create_opportunity(ctx):
    body = ctx.json()
    location_id = ctx.check_location(body.get("locationId"))
    return 201, {"opportunity": _out(ctx, opportunity_create(ctx.sandbox, location_id, body))}


def update_opportunity(ctx):
    doc = ctx.load("opportunity", ctx.params["id"], "Opportunity")
    return 200, {"opportunity": _out(ctx, opportunity_update(ctx.sandbox, doc, ctx.json()))}


def update_status(ctx):
    body = ctx.json()
    if body.get("status") not in STATUSES:
        raise unprocessable("status must be one of the following values: " + ", ".join(STATUSES))
    doc = ctx.load("opportunity", ctx.params["id"], "Opportunity")
    opportunity_update(ctx.sandbox, doc, {k: body[k] for k in ("status", "lostReasonId") if k in body})
    return 200, {"succeded": True}


def delete_opportunity(ctx):
    opportunity_delete(ctx.sandbox, ctx.load("opportunity", ctx.params["id"], "Opportunity"))
    return 200, {"succeded": True}


def upsert_opportunity(ctx):
    """Both spec shapes [gap §i.6]: match on `id`, else on contact + pipeline when `contactId` is given."""
    body = ctx.json()
    location_id = ctx.check_location(body.get("locationId"))
    if not body.get("pipelineId"):
        raise unprocessable("pipelineId should not be empty")
    existing = None
    if body.get("id"):
        existing = ctx.load("opportunity", body["id"], "Opportunity")
    elif body.get("contactId"):
        existing = next((o for o in ctx.store.list("opportunity", location_id)
                         if o["contactId"] == body["contactId"] and o["pipelineId"] == body["pipelineId"]), None)
    else:
        raise unprocessable("contactId should not be empty")
    if existing:
        return 200, {"opportunity": _out(ctx, opportunity_update(ctx.sandbox, existing, body)), "new": False}
    data = {"status": "open", "name": body.get("name") or "Opportunity", **body}
    return 200, {"opportunity": _out(ctx, opportunity_create(ctx.sandbox, location_id, data)), "new": True}


def _getter(doc: dict, field: str):
    if field.startswith("custom_fields.") or field.startswith("customFields."):
        fid = field.split(".")[1]
        return next((cf["fieldValue"] for cf in doc.get("customFields", []) if cf["id"] == fid), None)
    key = SNAKE.get(field, field)
    value = doc.get(key)
    if key in ("createdAt", "updatedAt", "lastStatusChangeAt", "lastStageChangeAt") and value:
        return parse_iso_ms(value)
    return value


def search_get(ctx):
    q = ctx.query
    if not q.get("location_id"):  # snake_case here, unlike every other endpoint (REFERENCE.md §e)
        raise unprocessable("location_id should not be empty")
    location_id = ctx.check_location(q["location_id"])
    docs = ctx.store.list("opportunity", location_id)
    for param, key in (("pipeline_id", "pipelineId"), ("pipeline_stage_id", "pipelineStageId"),
                       ("contact_id", "contactId"), ("assigned_to", "assignedTo"), ("id", "id")):
        if q.get(param):
            docs = [d for d in docs if d.get(key) == q[param]]
    if q.get("status") and q["status"] != "all":
        docs = [d for d in docs if d["status"] == q["status"]]
    if q.get("q"):
        docs = [d for d in docs if q["q"].lower() in d["name"].lower()]
    asc = q.get("order") == "added_asc"
    docs.sort(key=lambda d: (parse_iso_ms(d["createdAt"]), d["id"]), reverse=not asc)
    total = len(docs)
    limit = min(int(q.get("limit", "20") or 20), 100)
    page = int(q.get("page", "1") or 1)
    if q.get("startAfter") and q.get("startAfterId"):
        cursor = (int(q["startAfter"]), q["startAfterId"])
        docs = [d for d in docs if ((parse_iso_ms(d["createdAt"]), d["id"]) > cursor if asc
                                    else (parse_iso_ms(d["createdAt"]), d["id"]) < cursor)]
        window = docs[:limit]
    else:
        window = docs[(page - 1) * limit: page * limit]
    meta = {"total": total, "currentPage": page, "nextPage": None, "prevPage": page - 1 if page > 1 else None,
            "startAfterId": None, "startAfter": None, "nextPageUrl": None}
    has_more = len(docs) > len(window) if q.get("startAfterId") else total > page * limit
    if window and has_more:
        last = window[-1]
        meta.update(startAfterId=last["id"], startAfter=parse_iso_ms(last["createdAt"]), nextPage=page + 1)
        params = {k: v for k, v in q.items() if k not in ("startAfter", "startAfterId", "page")}
        params.update(startAfter=meta["startAfter"], startAfterId=last["id"], page=page + 1)
        meta["nextPageUrl"] = f"{ctx.request.host_url.rstrip('/')}/opportunities/search?{urlencode(params)}"
    return 200, {"opportunities": [_out(ctx, d) for d in window], "meta": meta, "aggregations": {}}


def search_post(ctx):
    body = ctx.json()
    location_id = ctx.check_location(body.get("locationId"))
    if body.get("page") == 0:
        body = {**body, "page": 1}
    docs = [d for d in ctx.store.list("opportunity", location_id)
            if all(search.match(d, f, _getter) for f in body.get("filters") or [])]
    if body.get("query"):
        docs = [d for d in docs if str(body["query"]).lower() in d["name"].lower()]
    items, total = search.sort_and_page(docs, body, sort_value=_getter, limit_key="limit",
                                        default_sort=[{"field": "date_added", "direction": "desc"}],
                                        allowed_sort=SORT_FIELDS)
    return 200, {"opportunities": [{**_out(ctx, d), "searchAfter": d["searchAfter"]} for d in items],
                 "total": total, "aggregations": {}}


ROUTES = [
    route("GET", "/opportunities/pipelines", pipelines, scope="opportunities.readonly", version=V),
    route("GET", "/opportunities/lost-reason", lost_reasons, scope="opportunities.readonly", version=V),
    route("GET", "/opportunities/search", search_get, scope="opportunities.readonly", version=V),
    route("POST", "/opportunities/search", search_post, scope="opportunities.readonly", version=V),
    route("POST", "/opportunities/upsert", upsert_opportunity, scope="opportunities.write", version=V),
    route("POST", "/opportunities/", create_opportunity, scope="opportunities.write", version=V),
    route("PUT", "/opportunities/{id}/status", update_status, scope="opportunities.write", version=V),
    route("GET", "/opportunities/{id}", get_opportunity, scope="opportunities.readonly", version=V),
    route("PUT", "/opportunities/{id}", update_opportunity, scope="opportunities.write", version=V),
    route("DELETE", "/opportunities/{id}", delete_opportunity, scope="opportunities.write", version=V),
]
