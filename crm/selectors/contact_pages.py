"""What the owner's contact pages read: a searched page of contacts with their sync state, one contact's file."""
import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import BooleanField, F, Func, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.expressions import RawSQL

from tenancy.models import Organization

from ..currency import money_display
from ..models import Contact, CrmUser, ExternalIdentity, LostReason, Opportunity, Pipeline, PipelineStage
from ..sync.mapping import CUSTOM_PREFIX
from ..sync.models import OutboxEntry, RemoteChange, SyncConflict, SyncRun
from .contact_custom_fields import (
    CustomFieldDefinition,
    contact_custom_field_definitions,
    opportunity_custom_field_definitions,
)

PAGE_SIZE = 25
# A trigram index needs three characters; a shorter search would read every contact of the organization.
MIN_SEARCH_CHARS = 3
HISTORY_LIMIT = 20
REFUSAL_RUNS_LIMIT = 50
# A deal's fields as its history rows name them (`crm.services.opportunity_sync`), as the owner reads them.
DEAL_FIELD_LABELS = {"name": "Name", "pipeline": "Pipeline", "stage": "Stage", "status": "Status",
                     "monetary_value": "Value", "contact": "Contact", "assignee": "Assigned to",
                     "lost_reason": "Lost reason", "source": "Source", "is_archived": "Archived"}
# The references a deal's history holds by id, shown by the referenced row's first non-empty column of these.
DEAL_REFERENCES = {"pipeline": (Pipeline, ("name",)), "stage": (PipelineStage, ("name",)),
                   "contact": (Contact, ("full_name", "email", "phone")), "assignee": (CrmUser, ("name", "email")),
                   "lost_reason": (LostReason, ("name",))}
_PHONE_LIKE = re.compile(r"^[\d\s()+.\-]+$")


@dataclass
class SyncState:
    """How one contact stands with the accounts it syncs to, in words (``key`` is a CSS class)."""

    key: str
    label: str
    detail: str = ""


@dataclass
class ContactPage:
    contacts: list[Contact]
    number: int
    has_next: bool
    query: str
    hint: str = ""
    tag: str = ""
    states: dict[int, SyncState] = field(default_factory=dict)

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def _search_term(query: str) -> str:
    """The lower-cased text to look for: a phone typed in any format becomes its digits (stored E.164)."""
    query = " ".join(query.split()).lower()
    if _PHONE_LIKE.match(query) and sum(ch.isdigit() for ch in query) >= MIN_SEARCH_CHARS:
        return re.sub(r"\D", "", query)
    return query


def _filter_search(qs: QuerySet[Contact], term: str) -> QuerySet[Contact]:
    if connection.vendor == "postgresql":
        # The very expression of the crm_contact_search_trgm index (migration 0008), so the index answers.
        text = Func(F("full_name"), F("email"), F("phone"), F("company_name"), function="crm_contact_search_text",
                    output_field=TextField())
        return qs.annotate(search_text=text).filter(search_text__contains=term)
    return qs.filter(Q(full_name__icontains=term) | Q(email__icontains=term) | Q(phone__icontains=term)
                     | Q(company_name__icontains=term))


def _filter_tag(qs: QuerySet[Contact], tag: str) -> QuerySet[Contact]:
    if connection.vendor == "postgresql":
        # jsonb containment, which the crm_contact_tags_gin index answers when the tag is rare.
        return qs.filter(tags__contains=[tag])
    # SQLite (`make run` without a DATABASE_URL) has no JSON containment; its json_each compares exactly too.
    return qs.filter(RawSQL("EXISTS (SELECT 1 FROM json_each(crm_contact.tags) WHERE json_each.value = %s)",
                            [tag], output_field=BooleanField()))


def contact_search(*, organization: Organization, query: str = "", page: int = 1,
                   archived: bool = False, tag: str = "") -> ContactPage:
    """One page of the organization's contacts (archived ones instead when ``archived``), by name, matching
    ``query`` in name, email, phone or company and carrying ``tag`` (exactly, as GHL compares tags). No total
    count: counting every match of a common word at 100,000 contacts would read them all, so a page only
    knows whether another follows."""
    page = max(1, page)
    tag = tag.strip()
    qs = Contact.objects.for_org(organization).filter(is_archived=archived)
    if tag:
        qs = _filter_tag(qs, tag)
    term, hint = _search_term(query), ""
    if term and len(term) < MIN_SEARCH_CHARS:
        hint, term = f"Type at least {MIN_SEARCH_CHARS} characters to search.", ""
    if term:
        qs = _filter_search(qs, term)
    start = (page - 1) * PAGE_SIZE
    rows = list(qs.order_by("full_name", "id")[start:start + PAGE_SIZE + 1])
    contacts = rows[:PAGE_SIZE]
    return ContactPage(contacts=contacts, number=page, has_next=len(rows) > PAGE_SIZE, query=query, hint=hint,
                       tag=tag, states=contact_sync_states(organization=organization, contacts=contacts))


def contact_sync_states(*, organization: Organization, contacts: list[Contact]) -> dict[int, SyncState]:
    """Each contact's sync state, from its links and its latest push: two indexed queries for any page."""
    if not contacts:
        return {}
    content_type = ContentType.objects.get_for_model(Contact)
    ids = [c.pk for c in contacts]
    linked: dict[int, Any] = {}
    for object_id, synced_at in ExternalIdentity.objects.for_org(organization).filter(
            content_type=content_type, object_id__in=ids).values_list("object_id", "last_synced_at"):
        linked[object_id] = max(filter(None, [linked.get(object_id), synced_at]), default=None)
    latest_push: dict[int, tuple[str, str]] = {}
    for object_id, status, error in OutboxEntry.objects.for_org(organization).filter(
            content_type=content_type, object_id__in=ids).exclude(status=OutboxEntry.Status.SUPERSEDED).order_by(
            "object_id", "-id").values_list("object_id", "status", "last_error"):
        latest_push.setdefault(object_id, (status, error))
    return {c.pk: _state(c, linked, latest_push) for c in contacts}


def _state(contact: Contact, linked: dict, latest_push: dict) -> SyncState:
    status, error = latest_push.get(contact.pk, ("", ""))
    if status in (OutboxEntry.Status.PENDING, OutboxEntry.Status.IN_PROGRESS):
        return SyncState("sending", "Sending", "A change is on its way to the connected account.")
    if status == OutboxEntry.Status.FAILED:
        return SyncState("retrying", "Retrying", error)
    if status == OutboxEntry.Status.DEAD:
        return SyncState("refused", "Not sent", error)
    if contact.pk in linked:
        synced_at = linked[contact.pk]
        return SyncState("synced", "Synced", f"Last synced {synced_at:%Y-%m-%d %H:%M} UTC" if synced_at else "")
    return SyncState("local", "Only here", "Not linked to a connected account.")


@dataclass
class InboundChange:
    """One change applied here from a connected account, as the page shows it."""

    at: Any
    provider: str
    source: str  # how it came: webhook, initial pull, reconciliation...
    outcome: str
    changes: list[tuple[str, str, str]]  # (field's local name, old value, new value), readable
    conflicts: list[tuple[str, str]]  # (field's local name, decision)
    count: int = 1  # > 1: a page's summary of the records it created, this one among them
    deal: str = ""  # a change of one of the contact's deals (its name); its fields are then named as read


@dataclass
class ContactFile:
    contact: Contact
    state: SyncState
    links: list[ExternalIdentity]
    history: list[OutboxEntry]
    inbound: list[InboundChange]
    conflicts: list[SyncConflict]
    refusals: list[dict[str, Any]]
    definitions: dict[str, CustomFieldDefinition] = field(default_factory=dict)  # the custom fields, by key

    @property
    def dnd(self) -> list[tuple[str, bool]]:
        return [("All channels", self.contact.dnd_all), ("SMS", self.contact.dnd_sms),
                ("Email", self.contact.dnd_email), ("WhatsApp", self.contact.dnd_whatsapp),
                ("Calls", self.contact.dnd_call)]

    @property
    def custom_fields(self) -> list[tuple[str, Any]]:
        """(name, value) of the connected accounts' custom fields, by name, then any other custom property under
        its key; a list reads as its items joined."""
        values = self.contact.custom_properties or {}
        shown = [(d.label, values.get(key)) for key, d in self.definitions.items()]
        shown += sorted((key, value) for key, value in values.items() if key not in self.definitions)
        return [(name, _readable(value)) for name, value in shown]


def _readable(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def contact_file(*, organization: Organization, contact_id: int) -> ContactFile | None:
    """Everything the detail page shows of one contact, or None when it is not this organization's."""
    contact = Contact.objects.for_org(organization).filter(pk=contact_id).first()
    if contact is None:
        return None
    content_type = ContentType.objects.get_for_model(Contact)
    scope = {"content_type": content_type, "object_id": contact.pk}
    links = list(ExternalIdentity.objects.for_org(organization).filter(**scope).order_by("provider", "account_id"))
    history = list(OutboxEntry.objects.for_org(organization).filter(**scope).exclude(
        status=OutboxEntry.Status.SUPERSEDED).order_by("-id")[:HISTORY_LIMIT])
    conflicts = list(SyncConflict.objects.for_org(organization).filter(**scope).order_by(
        "-decided_at", "-id")[:HISTORY_LIMIT])
    return ContactFile(contact=contact, state=contact_sync_states(organization=organization, contacts=[contact])[
        contact.pk], links=links, history=history, conflicts=conflicts,
        inbound=contact_inbound_history(organization=organization, contact=contact, links=links),
        refusals=_refusals_of(organization, {link.external_id for link in links}),
        definitions=contact_custom_field_definitions(organization=organization))


def contact_inbound_history(*, organization: Organization, contact: Contact,
                            links: list[ExternalIdentity]) -> list[InboundChange]:
    """The changes applied to ``contact`` and to its deals from its connected accounts, newest first, at most
    `HISTORY_LIMIT`: its own history rows, (when a pull or reconciliation page created it in bulk) that page's
    summary, found by the moment the page wrote as both the summary's ``applied_at`` and the contact's
    ``created_at``, and its deals' rows (`_deal_changes`). Three indexed queries, and one per kind of reference
    the deals' rows name."""
    rows = _contact_rows(organization, contact, links)
    changes = [(r.applied_at, r.pk, _inbound_change(r)) for r in rows]
    changes += _deal_changes(organization, contact)
    changes.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [change for _, _, change in changes[:HISTORY_LIMIT]]


def _inbound_change(r: RemoteChange, *, changes: list[tuple[str, str, str]] | None = None,
                    deal: str = "") -> InboundChange:
    if changes is None:
        changes = [(name, _readable(old), _readable(new)) for name, (old, new) in sorted((r.changes or {}).items())]
    return InboundChange(
        at=r.applied_at, provider=r.provider, source=r.get_source_display(), outcome=r.get_outcome_display(),
        changes=changes, conflicts=[(c.get("field", ""), SyncConflict.Decision(c["decision"]).label if c.get(
            "decision") in SyncConflict.Decision.values else c.get("decision", "")) for c in r.conflicts or []],
        count=r.count, deal=deal)


def _contact_rows(organization: Organization, contact: Contact, links: list[ExternalIdentity]) -> list[RemoteChange]:
    content_type = ContentType.objects.get_for_model(Contact)
    rows = list(RemoteChange.objects.for_org(organization).filter(
        content_type=content_type, object_id=contact.pk).order_by("-applied_at", "-id")[:HISTORY_LIMIT])
    if links and len(rows) < HISTORY_LIMIT and not any(r.outcome == RemoteChange.Outcome.CREATED for r in rows):
        accounts = {link.account_id for link in links}
        summary = RemoteChange.objects.for_org(organization).filter(
            content_type=content_type, object_id__isnull=True, applied_at=contact.created_at,
            account_id__in=accounts).order_by("id").first()
        if summary is not None and summary.provider in {link.provider for link in links}:
            rows.append(summary)
    return rows


def _deal_changes(organization: Organization, contact: Contact) -> list[tuple[Any, int, InboundChange]]:
    """The newest `HISTORY_LIMIT` history rows of the contact's deals (archived ones too), each with the deal's
    name, in one query; the ids they hold (stage, pipeline, contact, assignee, lost reason) shown by name, one
    query per kind of reference named, and custom fields by their names (one more query, when any is named)."""
    deal = Opportunity.objects.filter(pk=OuterRef("object_id"))
    rows = list(RemoteChange.objects.for_org(organization).filter(
        content_type=ContentType.objects.get_for_model(Opportunity),
        object_id__in=Opportunity.objects.for_org(organization).filter(contact=contact).values("pk"),
    ).annotate(deal_name=Subquery(deal.values("name")[:1]), deal_currency=Subquery(deal.values("currency")[:1]))
        .order_by("-applied_at", "-id")[:HISTORY_LIMIT])
    if not rows:
        return []
    ids: dict[str, set[int]] = {name: set() for name in DEAL_REFERENCES}
    custom = False
    for row in rows:
        for name, pair in (row.changes or {}).items():
            if name in ids:
                ids[name].update(v for v in pair if isinstance(v, int))
            custom = custom or name.startswith(CUSTOM_PREFIX)
    names = {name: _names(organization, *DEAL_REFERENCES[name], ids[name]) for name in DEAL_REFERENCES if ids[name]}
    definitions = opportunity_custom_field_definitions(organization=organization) if custom else {}

    def shown(name: str, value: Any, currency: str) -> str:
        if value is None or value == "":
            return ""
        if name in DEAL_REFERENCES:
            return names.get(name, {}).get(value, f"#{value} (removed)")
        if name == "status":
            return Opportunity.Status(value).label if value in Opportunity.Status.values else str(value)
        if name == "monetary_value":
            return money_display(value, currency)
        return _readable(value)

    def label(name: str) -> str:
        if name.startswith(CUSTOM_PREFIX):
            key = name[len(CUSTOM_PREFIX):]
            return definitions[key].label if key in definitions else key
        return DEAL_FIELD_LABELS.get(name, name)

    order = {name: i for i, name in enumerate(DEAL_FIELD_LABELS)}
    found = []
    for row in rows:
        change = _inbound_change(row, deal=row.deal_name or f"#{row.object_id}", changes=[
            (label(name), shown(name, old, row.deal_currency), shown(name, new, row.deal_currency))
            for name, (old, new) in sorted((row.changes or {}).items(),
                                           key=lambda item: (order.get(item[0], len(order)), item[0]))])
        change.conflicts = [(label(name), decision) for name, decision in change.conflicts]
        found.append((row.applied_at, row.pk, change))
    return found


def _names(organization: Organization, model, columns: tuple[str, ...], ids: set[int]) -> dict[int, str]:
    """id → name of the organization's rows of ``model`` among ``ids`` (one query)."""
    found = (model._default_manager.filter(organization=organization, pk__in=ids).order_by()
             .values_list("pk", *columns))
    return {pk: next((str(v) for v in values if v), f"#{pk}") for pk, *values in found}


def _refusals_of(organization: Organization, external_ids: set[str]) -> list[dict[str, Any]]:
    """Values a recent sync run refused for this contact (runs keep their first refusals with GHL's id)."""
    if not external_ids:
        return []
    found = []
    runs = SyncRun.objects.for_org(organization).filter(refused__gt=0).order_by("-started_at")[:REFUSAL_RUNS_LIMIT]
    for run in runs.only("kind", "started_at", "refusal_samples"):
        for sample in run.refusal_samples or []:
            if sample.get("external_id") in external_ids:
                found.append({"at": run.started_at, "kind": run.get_kind_display(), "error": sample.get("error", "")})
    return found
