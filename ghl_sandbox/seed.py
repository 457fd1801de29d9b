"""Building blocks for sandbox data (companies, locations, users, custom fields, pipelines, calendars,
contacts in bulk) and the ready-made `demo` seed. Seeding is setup, not a change in GHL: it emits no webhooks.
"""
import random
import uuid
from functools import cache

import phonenumbers

from . import constants as c
from .errors import iso, new_id, now_ms
from .routes.contacts import new_contact_doc

FIRST = ["Maria", "James", "Aisha", "Chen", "Olivia", "Liam", "Sofia", "Noah", "Emma", "Mateo", "Zara", "Ethan",
         "Priya", "Lucas", "Hana", "Omar", "Grace", "Diego", "Ivy", "Felix"]
LAST = ["Lopez", "Smith", "Khan", "Wang", "Brown", "Garcia", "Muller", "Rossi", "Nguyen", "Silva", "Kim", "Patel",
        "Cohen", "Novak", "Okafor", "Larsen", "Dubois", "Tanaka", "Walsh", "Haddad"]
@cache
def _us_area_codes() -> tuple[int, ...]:
    return tuple(npa for npa in range(201, 990)
                 if phonenumbers.region_code_for_number(phonenumbers.parse(f"+1{npa}5550100")) == "US"
                 and phonenumbers.is_valid_number(phonenumbers.parse(f"+1{npa}5550100")))


def fictional_phone(n: int) -> str:
    """The n-th of ~38,000 distinct valid US numbers in 555-0100…0199, the range reserved for fiction (real
    locations hold real, valid numbers; a sandbox must never hold someone's). Past those, distinct but invalid."""
    area_codes = _us_area_codes()
    if n >= 100 * len(area_codes):
        return f"+1555{n:07d}"
    return f"+1{area_codes[n // 100]}55501{n % 100:02d}"


TAGS = ["new-lead", "patient", "invisalign", "cleaning", "whitening", "vip", "newsletter", "referral"]
SOURCES = ["website form", "phone call", "referral", "facebook ad", "walk-in"]
DEFAULT_STAGES = ["New Lead", "Contacted", "Proposal Sent", "Won"]
DEFAULT_LOST_REASONS = ["Price too high", "Went with a competitor", "No response"]


def company_create(sandbox, *, name: str, id: str | None = None, installed: bool = True) -> dict:
    doc = {"id": id or new_id(), "name": name, "email": "agency@example.com", "phone": "+15035550199",
           "website": "https://example.com", "domain": "", "address": "1 Agency Way", "city": "Portland",
           "state": "OR", "country": "US", "postalCode": "97201", "timezone": "America/New_York", "logoUrl": "",
           "dateAdded": iso(), "_installed": installed}
    return sandbox.store.put("company", doc)


def location_create(sandbox, *, company_id: str, name: str, id: str | None = None,
                    timezone: str = "America/New_York", allow_duplicate_contact: bool = False,
                    allow_duplicate_opportunity: bool = False, installed: bool = True) -> dict:
    doc = {"id": id or new_id(), "companyId": company_id, "name": name, "domain": "", "address": "1 Main St",
           "city": "Portland", "state": "OR", "logoUrl": "", "country": "US", "postalCode": "97201",
           "website": "https://example.com", "timezone": timezone, "firstName": "Owner", "lastName": name,
           "email": "owner@example.com", "phone": "+15035550100",
           "business": {"name": name, "address": "1 Main St", "city": "Portland", "state": "OR", "country": "US",
                        "postalCode": "97201", "website": "https://example.com", "timezone": timezone,
                        "logoUrl": ""},
           "social": {}, "reseller": {},
           "settings": {"allowDuplicateContact": allow_duplicate_contact,
                        "allowDuplicateOpportunity": allow_duplicate_opportunity,
                        "allowFacebookNameMerge": False, "disableContactTimezone": False},
           "dateAdded": iso(), "_installed": installed, "_ownerUserId": None}
    return sandbox.store.put("location", doc, location_id=doc["id"])


def user_create(sandbox, *, company_id: str, location_ids: list[str], first_name: str, last_name: str,
                email: str | None = None, role: str = "user", id: str | None = None) -> dict:
    doc = {"id": id or new_id(), "name": f"{first_name} {last_name}", "firstName": first_name,
           "lastName": last_name, "email": email or f"{first_name.lower()}.{last_name.lower()}@example.com",
           "phone": "+15035550199", "extension": "", "permissions": {"contactsEnabled": True},
           "roles": {"type": "account", "role": role, "locationIds": location_ids}, "deleted": False,
           "_companyId": company_id}
    sandbox.store.put("user", doc)
    for loc_id in location_ids:
        loc = sandbox.store.get("location", loc_id)
        if loc and not loc.get("_ownerUserId"):
            loc["_ownerUserId"] = doc["id"]
            sandbox.store.put("location", loc, location_id=loc_id)
    company = sandbox.store.get("company", company_id)
    if company and not company.get("_ownerUserId"):
        company["_ownerUserId"] = doc["id"]
        sandbox.store.put("company", company)
    return doc


def custom_field_create(sandbox, *, location_id: str, name: str, key: str, data_type: str = "TEXT",
                        model: str = "contact", options: list | None = None, id: str | None = None) -> dict:
    doc = {"id": id or new_id(), "name": name, "fieldKey": f"{model}.{key}", "placeholder": "",
           "dataType": data_type, "position": 0, "picklistOptions": options or [], "picklistImageOptions": [],
           "isAllowedCustomOption": False, "isMultiFileAllowed": False, "maxFileLimit": 0,
           "locationId": location_id, "model": model}
    return sandbox.store.put("customField", doc, location_id=location_id)


def pipeline_create(sandbox, *, location_id: str, name: str, stages: list[str], id: str | None = None) -> dict:
    doc = {"id": id or new_id(), "name": name, "locationId": location_id, "showInFunnel": True,
           "showInPieChart": True, "colorRenderMode": "dot",
           "stages": [{"id": str(uuid.uuid4()), "name": s, "position": i} for i, s in enumerate(stages)]}
    return sandbox.store.put("pipeline", doc, location_id=location_id)


def pipeline_update(sandbox, doc: dict, *, name: str | None = None, stages: list | None = None) -> dict:
    """Edit a pipeline as a GHL user does in its settings: rename it; give the full new stage list in order, each
    `{"id": existing id, "name": ...}` (renamed or moved), `{"name": ...}` (new) or a plain name; a stage left
    out is removed. GHL sends no webhook for pipeline edits (REFERENCE §h lists none)."""
    if name:
        doc["name"] = name
    if stages is not None:
        known = {s["id"] for s in doc["stages"]}
        new = []
        for i, stage in enumerate(stages):
            stage = {"name": stage} if isinstance(stage, str) else dict(stage)
            if stage.get("id") and stage["id"] not in known:
                raise ValueError(f"stage {stage['id']} is not in pipeline {doc['id']}")
            new.append({"id": stage.get("id") or str(uuid.uuid4()), "name": stage["name"], "position": i})
        doc["stages"] = new
    return sandbox.store.put("pipeline", doc, location_id=doc["locationId"])


def lost_reason_create(sandbox, *, location_id: str, name: str, id: str | None = None) -> dict:
    now = iso()
    doc = {"id": id or new_id(), "name": name, "locationId": location_id, "deleted": False, "createdAt": now,
           "updatedAt": now}
    return sandbox.store.put("lostReason", doc, location_id=location_id)


def calendar_create(sandbox, *, location_id: str, name: str, user_ids: list[str], id: str | None = None,
                    slot_duration: int = 30, days: list[int] | None = None, open_hour: int = 9,
                    close_hour: int = 17, **fields) -> dict:
    """A calendar with GHL's defaults; ``fields`` override any `CalendarDTO` key (openHours, slotBuffer, ...)."""
    doc = {"id": id or new_id(), "locationId": location_id, "name": name, "groupId": "", "isActive": True,
           "description": f"{name} bookings", "slug": name.lower().replace(" ", "-"),
           "widgetSlug": name.lower().replace(" ", "-"), "calendarType": "event", "widgetType": "classic",
           "eventTitle": "{{contact.name}}", "eventColor": "#039be5",
           "teamMembers": [{"userId": u, "priority": 0.5, "isPrimary": i == 0} for i, u in enumerate(user_ids)],
           "locationConfigurations": [{"kind": "physical", "location": "1 Main St"}],
           "slotDuration": slot_duration, "slotDurationUnit": "mins", "slotInterval": slot_duration,
           "slotIntervalUnit": "mins", "slotBuffer": 0, "preBuffer": 0, "appoinmentPerSlot": 1,
           "appoinmentPerDay": 0, "allowBookingAfter": 0, "allowBookingAfterUnit": "hours",
           "allowBookingFor": 60, "allowBookingForUnit": "days",
           "openHours": [{"daysOfTheWeek": days if days is not None else [1, 2, 3, 4, 5],
                          "hours": [{"openHour": open_hour, "openMinute": 0, "closeHour": close_hour,
                                     "closeMinute": 0}]}],
           "availabilities": [], "availabilityType": 0, "enableRecurring": False, "autoConfirm": True,
           "allowReschedule": True, "allowCancellation": True, "stickyContact": False}
    doc.update(fields)
    return sandbox.store.put("calendar", doc, location_id=location_id)


def contacts_bulk(sandbox, *, location_id: str, count: int, seed: int = 0, start_ms: int | None = None,
                  step_ms: int = 1000) -> int:
    """Insert `count` generated contacts in one transaction (30,000 take a few seconds), added `step_ms` apart
    from `start_ms` (0: all in the same millisecond, as a bulk import can leave them)."""
    rng = random.Random(seed)
    base = start_ms or (now_ms() - count * step_ms - 60_000)
    existing = sandbox.store.count("contact", location_id)
    rows = []
    for i in range(count):
        n = existing + i
        first, last = rng.choice(FIRST), rng.choice(LAST)
        data = {"firstName": first, "lastName": last,
                "email": f"{first.lower()}.{last.lower()}.{n}@{location_id.lower()}.example.com",
                "phone": fictional_phone(n), "source": rng.choice(SOURCES),
                "tags": sorted(rng.sample(TAGS, rng.randint(0, 2))), "country": "US", "city": "Portland",
                "state": "OR", "companyName": None}
        ms = base + i * step_ms
        doc = new_contact_doc(location_id, data, {}, added_ms=ms)
        rows.append((doc, location_id, ms))
    sandbox.store.put_many("contact", rows)
    return count


def seed_location(sandbox, *, location_id: str | None = None, company_id: str | None = None,
                  name: str = "Sandbox Location", contacts: int = 0, users: int = 2, pipelines: bool = True,
                  calendars: bool = True, custom_fields: bool = True, allow_duplicate_contact: bool = False,
                  timezone: str = "America/New_York", ids: dict | None = None,
                  contacts_start_ms: int | None = None, contacts_step_ms: int = 1000) -> dict:
    """Create (or extend) a location with users, custom fields, a pipeline, a calendar and N contacts."""
    ids = ids or {}
    if company_id is None or sandbox.store.get("company", company_id) is None:
        company_id = company_create(sandbox, name=f"{name} Agency", id=company_id)["id"]
    loc = sandbox.store.get("location", location_id) if location_id else None
    if loc is None:
        loc = location_create(sandbox, company_id=company_id, name=name, id=location_id, timezone=timezone,
                              allow_duplicate_contact=allow_duplicate_contact)
    location_id = loc["id"]
    summary: dict = {"companyId": company_id, "locationId": location_id, "userIds": [], "customFieldIds": {},
                     "pipelineIds": [], "calendarIds": [], "contacts": 0}
    for i in range(users):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        u = user_create(sandbox, company_id=company_id, location_ids=[location_id], first_name=first,
                        last_name=last, role="admin" if i == 0 else "user",
                        id=ids.get("user") if i == 0 else None,
                        email=f"{first.lower()}.{last.lower()}.{location_id.lower()}@example.com")
        summary["userIds"].append(u["id"])
    if custom_fields:
        for key, label, dtype, model in (("preferred_dentist", "Preferred dentist", "TEXT", "contact"),
                                         ("insurance_provider", "Insurance provider", "TEXT", "contact"),
                                         ("treatment_interest", "Treatment interest", "TEXT", "opportunity")):
            f = custom_field_create(sandbox, location_id=location_id, name=label, key=key, data_type=dtype,
                                    model=model)
            summary["customFieldIds"][f["fieldKey"]] = f["id"]
    if pipelines:
        p = pipeline_create(sandbox, location_id=location_id, name="Sales", id=ids.get("pipeline"),
                            stages=DEFAULT_STAGES)
        summary["pipelineIds"].append(p["id"])
        summary["stageIds"] = [s["id"] for s in p["stages"]]
        summary["lostReasonIds"] = [lost_reason_create(sandbox, location_id=location_id, name=reason)["id"]
                                    for reason in DEFAULT_LOST_REASONS]
    if calendars:
        cal = calendar_create(sandbox, location_id=location_id, name="Consultations", id=ids.get("calendar"),
                              user_ids=summary["userIds"][:1])
        summary["calendarIds"].append(cal["id"])
    if contacts:
        summary["contacts"] = contacts_bulk(sandbox, location_id=location_id, count=int(contacts),
                                            start_ms=contacts_start_ms, step_ms=contacts_step_ms)
    return summary


def seed_demo(sandbox) -> dict:
    """The fixed demo: company, "AgentLevel Demo Dental" with ~50 contacts, Sales pipeline, a calendar."""
    if sandbox.store.get("location", c.DEMO_LOCATION_ID):
        return {"companyId": c.DEMO_COMPANY_ID, "locationId": c.DEMO_LOCATION_ID, "existing": True}
    company_create(sandbox, name="AgentLevel Demo Agency", id=c.DEMO_COMPANY_ID)
    return seed_location(sandbox, location_id=c.DEMO_LOCATION_ID, company_id=c.DEMO_COMPANY_ID,
                         name=c.DEMO_LOCATION_NAME, contacts=50, users=3,
                         ids={"user": c.DEMO_USER_ID, "pipeline": c.DEMO_PIPELINE_ID, "calendar": c.DEMO_CALENDAR_ID})
