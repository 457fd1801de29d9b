"""The control API under /_sandbox/ (no bearer token, JSON in and out). See README.md for the reference.

Changes made here go through the same services as the API ("as if a person changed it in GHL"), so they
emit the same webhooks.
"""
import json
import re

from werkzeug.wrappers import Request, Response

from . import auth, seed
from . import constants as c
from .auth import public
from .errors import ApiError
from .routes import calendars, contacts, conversations, opportunities

KINDS = ("company", "location", "user", "customField", "pipeline", "lostReason", "calendar", "contact", "opportunity",
         "conversation", "message", "appointment")


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _need(data: dict, *keys: str):
    missing = [k for k in keys if not data.get(k)]
    if missing:
        raise ControlError(400, "missing: " + ", ".join(missing))
    return [data[k] for k in keys]


def _get(sandbox, kind: str, id_: str) -> dict:
    doc = sandbox.store.get(kind, id_)
    if doc is None:
        raise ControlError(404, f"{kind} {id_} not found")
    return doc


def reset(sandbox, data: dict) -> dict:
    sandbox.dispatcher.clear()
    sandbox.store.reset()
    sandbox.config.reset()
    if sandbox.launch_config:
        sandbox.config.update(sandbox.launch_config)
    sandbox.ratelimiter.reset()
    sandbox.faults.reseed()
    result = {"ok": True}
    if data.get("seed") == "demo":
        result["seed"] = seed.seed_demo(sandbox)
    return result


def do_seed(sandbox, data: dict) -> dict:
    if data.get("demo"):
        return seed.seed_demo(sandbox)
    return seed.seed_location(
        sandbox, location_id=data.get("locationId"), company_id=data.get("companyId"),
        name=data.get("name", "Sandbox Location"), contacts=int(data.get("contacts", 0)),
        users=int(data.get("users", 2)), pipelines=data.get("pipelines", True), calendars=data.get("calendars", True),
        custom_fields=data.get("customFields", True), allow_duplicate_contact=data.get("allowDuplicateContact", False),
        timezone=data.get("timezone", "America/New_York"), contacts_start_ms=data.get("contactsStartMs"),
        contacts_step_ms=int(data.get("contactsStepMs", 1000)))


def change(sandbox, action: str, data: dict) -> dict:
    """One change "as a GHL user would make it"; returns the changed object."""
    if action == "contact.create":
        (location_id,) = _need(data, "locationId")
        return {"contact": public(contacts.contact_create(sandbox, location_id, data))}
    if action == "contact.update":
        doc = _get(sandbox, "contact", _need(data, "contactId")[0])
        fields = {k: v for k, v in data.items() if k != "contactId"}
        return {"contact": public(contacts.contact_update(sandbox, doc, fields))}
    if action == "contact.delete":
        contacts.contact_delete(sandbox, _get(sandbox, "contact", _need(data, "contactId")[0]))
        return {"deleted": True}
    if action == "contact.tags":
        doc = _get(sandbox, "contact", _need(data, "contactId")[0])
        if data.get("add"):
            doc = contacts.contact_tags(sandbox, doc, data["add"], add=True)
        if data.get("remove"):
            doc = contacts.contact_tags(sandbox, doc, data["remove"], add=False)
        return {"contact": public(doc)}
    if action == "contact.dnd":
        doc = _get(sandbox, "contact", _need(data, "contactId")[0])
        fields = {k: data[k] for k in ("dnd", "dndSettings") if k in data}
        return {"contact": public(contacts.contact_update(sandbox, doc, fields))}
    if action == "opportunity.create":
        (location_id,) = _need(data, "locationId")
        return {"opportunity": public(opportunities.opportunity_create(sandbox, location_id, data))}
    if action == "opportunity.update":
        doc = _get(sandbox, "opportunity", _need(data, "opportunityId")[0])
        return {"opportunity": public(opportunities.opportunity_update(sandbox, doc, data))}
    if action == "opportunity.delete":
        opportunities.opportunity_delete(sandbox, _get(sandbox, "opportunity", _need(data, "opportunityId")[0]))
        return {"deleted": True}
    if action == "pipeline.create":
        location_id, name = _need(data, "locationId", "name")
        _get(sandbox, "location", location_id)
        return {"pipeline": public(seed.pipeline_create(sandbox, location_id=location_id, name=name,
                                                        stages=data.get("stages") or ["New"], id=data.get("id")))}
    if action == "pipeline.update":
        doc = _get(sandbox, "pipeline", _need(data, "pipelineId")[0])
        return {"pipeline": public(seed.pipeline_update(sandbox, doc, name=data.get("name"),
                                                        stages=data.get("stages")))}
    if action == "location.update":  # the business profile edited in the location's settings (no webhook)
        loc = _get(sandbox, "location", _need(data, "locationId")[0])
        top = ("name", "address", "city", "state", "country", "postalCode", "website", "timezone", "email", "phone")
        loc.update({k: data[k] for k in top if k in data})
        if isinstance(data.get("business"), dict):
            loc["business"] = {**loc.get("business", {}), **{k: v for k, v in data["business"].items()
                                                              if k in (*top, "logoUrl")}}
        return {"location": public(sandbox.store.put("location", loc, location_id=loc["id"]))}
    if action == "customField.create":  # a field added in the location's settings (GHL sends no webhook)
        location_id, name = _need(data, "locationId", "name")
        _get(sandbox, "location", location_id)
        model = data.get("model", "contact")
        if model not in ("contact", "opportunity"):
            raise ControlError(422, "model must be contact or opportunity")
        key = data.get("key") or "_".join(name.lower().split())
        return {"customField": public(seed.custom_field_create(
            sandbox, location_id=location_id, name=name, key=key, data_type=data.get("dataType", "TEXT"),
            model=model, options=data.get("picklistOptions")))}
    if action == "lostReason.create":
        location_id, name = _need(data, "locationId", "name")
        return {"lostReason": public(seed.lost_reason_create(sandbox, location_id=location_id, name=name))}
    if action == "calendar.create":
        location_id, name = _need(data, "locationId", "name")
        _get(sandbox, "location", location_id)
        fields = {k: v for k, v in data.items() if k not in ("locationId", "name", "userIds")}
        users = data.get("userIds") or [u["id"] for u in sandbox.store.list("user", None)
                                        if location_id in u.get("roles", {}).get("locationIds", [])][:1]
        return {"calendar": public(seed.calendar_create(sandbox, location_id=location_id, name=name,
                                                        user_ids=users, **fields))}
    if action == "calendar.update":
        doc = _get(sandbox, "calendar", _need(data, "calendarId")[0])
        doc.update({k: v for k, v in data.items() if k not in ("calendarId", "id", "locationId")})
        return {"calendar": public(sandbox.store.put("calendar", doc, location_id=doc["locationId"]))}
    if action == "appointment.book":
        (location_id,) = _need(data, "locationId")
        ev = calendars.appointment_create(sandbox, location_id, data, source="booking_widget")
        return {"appointment": public(ev)}
    if action in ("appointment.update", "appointment.cancel"):
        doc = _get(sandbox, "appointment", _need(data, "eventId")[0])
        fields = {"appointmentStatus": "cancelled"} if action == "appointment.cancel" else data
        return {"appointment": public(calendars.appointment_update(sandbox, doc, fields))}
    if action == "appointment.delete":
        calendars.appointment_delete(sandbox, _get(sandbox, "appointment", _need(data, "eventId")[0]))
        return {"deleted": True}
    if action in ("message.inbound", "message.outbound"):
        contact = _get(sandbox, "contact", _need(data, "contactId")[0])
        direction = action.split(".")[1]
        conv, msg = conversations.message_create(
            sandbox, contact, data.get("type", "SMS"), direction=direction, body=data.get("message", ""),
            data=data, source="app", user_id=data.get("userId"))
        return {"conversationId": conv["id"], "message": public(msg)}
    raise ControlError(404, f"unknown action {action}")


def issue_code(sandbox, data: dict) -> dict:
    """An authorization code for a location (or, with only companyId, the agency) without the browser."""
    client_id = data.get("clientId", c.SANDBOX_CLIENT_ID)
    if data.get("locationId"):
        loc = _get(sandbox, "location", data["locationId"])
        user_type, location_id, company_id, user_id = "Location", loc["id"], loc["companyId"], loc.get("_ownerUserId")
        default_scopes = c.LOCATION_SCOPES
    else:
        company = _get(sandbox, "company", _need(data, "companyId")[0])
        user_type, location_id, company_id, user_id = "Company", None, company["id"], company.get("_ownerUserId")
        default_scopes = c.COMPANY_SCOPES
    scope = data.get("scope")
    scopes = (scope.split() if isinstance(scope, str) else list(scope)) if scope else list(default_scopes)
    if user_type == "Location":
        scopes = [s for s in scopes if s not in c.AGENCY_ONLY_SCOPES]
    code = auth.issue_code(sandbox, client_id=client_id, redirect_uri=data.get("redirectUri"), user_type=user_type,
                           location_id=location_id, company_id=company_id, user_id=user_id or "", scopes=scopes)
    if data.get("install", False):
        auth.install(sandbox, location_id=location_id, company_id=None if location_id else company_id,
                     user_id=user_id)
    return {"code": code, "userType": user_type, "locationId": location_id, "companyId": company_id}


def dispatch(sandbox, request: Request) -> Response:
    try:
        data = json.loads(request.get_data() or b"{}") if request.method in ("POST", "PUT", "PATCH") else {}
        if not isinstance(data, dict):
            raise ControlError(400, "JSON object expected")
        return _json(_route(sandbox, request, data))
    except ControlError as exc:
        return _json({"error": exc.message}, exc.status)
    except ApiError as exc:
        return _json(exc.body, exc.status)
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)


def _route(sandbox, request: Request, data: dict):  # noqa: C901 - a flat routing table reads best
    method, path = request.method, request.path.rstrip("/")
    args = request.args.to_dict()
    if path == "/_sandbox/health":
        return {"ok": True, "pendingWebhooks": sandbox.dispatcher.pending()}
    if path == "/_sandbox/reset" and method == "POST":
        return reset(sandbox, data)
    if path == "/_sandbox/seed" and method == "POST":
        return do_seed(sandbox, data)
    if path == "/_sandbox/companies" and method == "POST":
        return public(seed.company_create(sandbox, name=data.get("name", "Sandbox Agency"), id=data.get("id")))
    if path == "/_sandbox/locations" and method == "POST":
        company_id = _need(data, "companyId")[0]
        if sandbox.store.get("company", company_id) is None:
            seed.company_create(sandbox, name=f"{company_id} agency", id=company_id)
        loc = seed.location_create(sandbox, company_id=company_id, name=data.get("name", "Sandbox Location"),
                                   id=data.get("id"), timezone=data.get("timezone", "America/New_York"),
                                   allow_duplicate_contact=data.get("allowDuplicateContact", False),
                                   installed=data.get("installed", True))
        return public(loc)
    m = re.fullmatch(r"/_sandbox/locations/([^/]+)/settings", path)
    if m and method in ("PUT", "PATCH"):
        loc = _get(sandbox, "location", m.group(1))
        loc["settings"].update(data)
        sandbox.store.put("location", loc, location_id=loc["id"])
        return public(loc)
    m = re.fullmatch(r"/_sandbox/changes/([\w.]+)", path)
    if m and method == "POST":
        return change(sandbox, m.group(1), data)
    if path == "/_sandbox/config":
        return sandbox.config.update(data) if method in ("PUT", "PATCH") else sandbox.config.snapshot()
    if path == "/_sandbox/webhooks":
        if method in ("PUT", "PATCH"):
            sandbox.config.update({"webhooks": data})
        return sandbox.config["webhooks"]
    if path == "/_sandbox/faults":
        if method in ("PUT", "PATCH"):
            sandbox.config.update({"faults": data})
            sandbox.faults.reseed()
        return sandbox.config["faults"]
    if path == "/_sandbox/rate-limits" and method in ("PUT", "PATCH"):
        sandbox.config.update({"rate_limit": data})
        if data.get("reset", True):
            sandbox.ratelimiter.reset()
        return sandbox.config["rate_limit"]
    if path == "/_sandbox/tokens/ttl" and method in ("PUT", "POST"):
        sandbox.config.update({"token_ttl": int(_need(data, "ttl")[0])})
        return {"token_ttl": sandbox.config["token_ttl"]}
    if path == "/_sandbox/tokens/expire" and method == "POST":
        auth.expire_all(sandbox)
        return {"ok": True}
    if path == "/_sandbox/oauth/code" and method == "POST":
        return issue_code(sandbox, data)
    if path == "/_sandbox/oauth/clients" and method == "POST":
        client_id, secret = _need(data, "clientId", "clientSecret")
        sandbox.config.update({"clients": {client_id: {"secret": secret,
                                                       "redirect_uris": data.get("redirectUris", [])}}})
        return {"clientId": client_id}
    if path == "/_sandbox/oauth/redirect-uris" and method == "POST":
        uris = sorted(set(sandbox.config["redirect_uris"]) | set(data.get("uris", [])))
        update = {"redirect_uris": uris}
        if "allowLoopback" in data:
            update["allow_loopback_redirects"] = bool(data["allowLoopback"])
        sandbox.config.update(update)
        return {"redirect_uris": uris}
    if path == "/_sandbox/requests":
        if method == "DELETE":
            sandbox.store.clear_log("request_log")
            return {"ok": True}
        return {"requests": sandbox.store.query_log("request_log", args)}
    if path == "/_sandbox/webhooks/deliveries":
        if method == "DELETE":
            sandbox.store.clear_log("deliveries")
            return {"ok": True}
        return {"deliveries": sandbox.store.query_log("deliveries", args)}
    if path == "/_sandbox/webhooks/wait" and method == "POST":
        return {"idle": sandbox.dispatcher.wait_idle(float(data.get("timeout", 10)))}
    if path in ("/_sandbox/install", "/_sandbox/uninstall") and method == "POST":
        fn = auth.install if path.endswith("/install") else auth.uninstall
        kwargs = {"location_id": data.get("locationId"), "company_id": data.get("companyId")}
        if not any(kwargs.values()):
            raise ControlError(400, "missing: locationId or companyId")
        return {"event": fn(sandbox, **kwargs)}
    if path == "/_sandbox/keys":
        return sandbox.signer.public_pems()
    m = re.fullmatch(r"/_sandbox/objects/(\w+)(?:/([^/]+))?", path)
    if m and method == "GET" and m.group(1) in KINDS:
        if m.group(2):
            return public(_get(sandbox, m.group(1), m.group(2)))
        return {"items": [public(d) for d in sandbox.store.list(m.group(1), args.get("locationId"))]}
    raise ControlError(404, f"no control endpoint {method} {path}")
