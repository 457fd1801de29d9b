"""A toy second kind of record (tickets) synced both ways through the engine, with no sandbox and no provider:
the remote is a dict, the "provider" is this module. It proves the seams a new kind plugs into: the kind's
declaration, mappings, policies and targets keyed by kind, reference and datetime fields, match keys, the
outbox and echo suppression."""
import datetime as dt
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.models import Contact, ExternalIdentity
from crm.services.contacts import contact_create
from crm.services.external_ids import external_id_link
from crm.sync.conflict import conflict_policy_set
from crm.sync.inbound import Outcome, record_apply_remote
from crm.sync.kinds import MatchKey, SyncKind, register_kind, unregister_kind
from crm.sync.mapping import mapping_for
from crm.sync.models import FieldMapping, OutboxEntry
from crm.sync.outbox import outbox_claim_batch, outbox_mark_done, outbox_record
from crm.sync.targets import register_target_resolver, unregister_target_resolver
from tests.toy_kind.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER, ACCOUNT, KIND = "toy", "acct-1", "toy_ticket"
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
# The toy provider's ticket fields (remote key → local field); types come from the model: due_at is a
# datetime, contact a reference (the remote carries the contact's remote id).
TICKET_FIELDS = {"subject": "title", "state": "status", "dueAt": "due_at", "contactId": "contact", "ref": "code"}


# -- the kind's services (what a crm/services module would hold) ------------------------------------------
def ticket_clean(organization, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    cleaned, errors = {}, {}
    for name, value in values.items():
        if name == "title" and len(value or "") > 80:
            errors[name] = "A title has at most 80 characters."
            continue
        cleaned[name] = value
    return cleaned, errors


@transaction.atomic
def ticket_update(ticket: Ticket, values: dict[str, Any]) -> set[str]:
    changed = set()
    for name, value in values.items():
        attname = ticket._meta.get_field(name).attname
        if getattr(ticket, attname) != value:
            setattr(ticket, attname, value)
            changed.add(name)
    if changed:
        ticket.save()
        outbox_record(obj=ticket, fields=changed)
    return changed


@transaction.atomic
def ticket_archive(ticket: Ticket) -> None:
    if not ticket.is_archived:
        ticket.is_archived = True
        ticket.save()
        outbox_record(obj=ticket, fields=["is_archived"])


TICKET_KIND = SyncKind(
    name=KIND, model=Ticket, clean=ticket_clean,
    build=lambda organization, cleaned: Ticket(organization=organization,
                                               **{Ticket._meta.get_field(k).attname: v for k, v in cleaned.items()}),
    update=ticket_update, archive=ticket_archive, match_keys=(MatchKey("code", ("code",)),),
)


# -- the toy provider ------------------------------------------------------------------------------------
class ToyRemote:
    """The remote account: tickets by id, each a dict in the remote's own field names."""

    def __init__(self, org):
        self.org = org
        self.tickets: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, dict]] = []

    def mapping(self):
        return mapping_for(organization=self.org, provider=PROVIDER, account_id=ACCOUNT, object_type=KIND,
                           defaults=TICKET_FIELDS)

    def deliver(self, ticket_id: str, *, at: dt.datetime, deleted: bool = False):
        """What a webhook handler does: map the remote record and apply it."""
        mapping = self.mapping()
        remote = self.tickets[ticket_id]
        values = mapping.to_local(remote)
        return record_apply_remote(kind=KIND, organization=self.org, provider=PROVIDER, account_id=ACCOUNT,
                                   connection_id=None, external_id=ticket_id, remote=values,
                                   remote_updated_at=at, deleted=deleted), mapping.errors

    def push_pending(self) -> int:
        """What a push worker does: claim the kind's entries, build each push lazily, apply it, mark it done."""
        ticket_type = ContentType.objects.get_for_model(Ticket)
        entries = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT, content_type_ids=[ticket_type.pk])
        mapping = self.mapping()
        for entry in entries:
            ticket = Ticket.objects.get(pk=entry.object_id, organization_id=entry.organization_id)
            link = ExternalIdentity.objects.filter(provider=PROVIDER, account_id=ACCOUNT, content_type=ticket_type,
                                                   object_id=ticket.pk).first()
            body = mapping.to_remote(ticket, None if link is None else entry.changed_fields)
            remote_id = link.external_id if link else f"t-{len(self.tickets) + 1}"
            self.tickets[remote_id] = {**self.tickets.get(remote_id, {}), **body}
            self.writes.append((remote_id, body))
            outbox_mark_done(entry=entry, remote_id=remote_id, remote_values=mapping.to_local(self.tickets[remote_id]))
        return len(entries)


@pytest.fixture
def toy_kind():
    register_kind(TICKET_KIND)
    register_target_resolver(PROVIDER, lambda organization_id: [(PROVIDER, ACCOUNT)], object_type=KIND)
    yield TICKET_KIND
    unregister_target_resolver(PROVIDER)
    unregister_kind(KIND)


@pytest.fixture
def remote(org, toy_kind):
    return ToyRemote(org)


@pytest.fixture
def ada(org):
    """A contact the remote knows as c-1."""
    contact = contact_create(organization=org, first_name="Ada", email="ada@example.com")
    external_id_link(obj=contact, provider=PROVIDER, account_id=ACCOUNT, external_id="c-1")
    return contact


def test_a_remote_ticket_is_created_with_its_contact_and_due_time_then_updated_stale_and_archived(remote, ada):
    # given: a ticket in the remote, for the contact it knows as c-1, due at a time with an offset
    remote.tickets["t-9"] = {"subject": "Broken chair", "state": "open", "dueAt": "2026-12-05T10:30:00+01:00",
                             "contactId": "c-1", "ref": "T9"}
    # when
    result, errors = remote.deliver("t-9", at=T0)
    # then
    assert (result.outcome, errors) == (Outcome.CREATED, {})
    ticket = Ticket.objects.get()
    assert (ticket.title, ticket.contact_id, ticket.code) == ("Broken chair", ada.pk, "T9")
    assert ticket.due_at == dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)
    assert not OutboxEntry.objects.exists()  # applied from the remote: nothing goes back to it

    remote.tickets["t-9"]["subject"] = "Broken chair, left leg"
    assert remote.deliver("t-9", at=T0 + dt.timedelta(minutes=1))[0].outcome == Outcome.UPDATED
    remote.tickets["t-9"]["subject"] = "an older state"
    assert remote.deliver("t-9", at=T0)[0].outcome == Outcome.STALE
    assert remote.deliver("t-9", at=T0 + dt.timedelta(minutes=2), deleted=True)[0].outcome == Outcome.ARCHIVED
    ticket.refresh_from_db()
    assert ticket.title == "Broken chair, left leg" and ticket.is_archived


def test_an_unlinked_remote_ticket_matches_a_local_one_by_its_match_key(remote, org):
    local = Ticket.objects.create(organization=org, code="T7", title="Door")
    remote.tickets["t-7"] = {"subject": "Door", "ref": "T7", "state": "closed"}

    result, _ = remote.deliver("t-7", at=timezone.now() + dt.timedelta(minutes=1))  # newer than the local row

    assert result.outcome == Outcome.LINKED and result.contact.pk == local.pk
    local.refresh_from_db()
    assert local.status == "closed" and Ticket.objects.count() == 1


def test_a_reference_to_a_record_nobody_linked_is_refused_not_guessed(remote, ada):
    remote.tickets["t-1"] = {"subject": "Window", "contactId": "c-unknown", "dueAt": "next tuesday"}

    result, errors = remote.deliver("t-1", at=T0)

    assert result.outcome == Outcome.CREATED
    assert set(errors) == {"contactId", "dueAt"}
    assert "no local contact is linked to remote id 'c-unknown'" in errors["contactId"]
    assert Ticket.objects.get().contact_id is None


def test_a_local_ticket_is_pushed_to_its_kinds_targets_only_and_its_echo_is_recognised(remote, ada, org):
    # given: a ticket edited here (a contact resolver for the same provider would not see it)
    ticket = Ticket.objects.create(organization=org, title="Lamp", due_at=T0, contact=ada)
    ticket_update(ticket, {"status": "waiting"})
    entry = OutboxEntry.objects.get(content_type=ContentType.objects.get_for_model(Ticket))
    assert (entry.provider, entry.account_id, entry.changed_fields) == (PROVIDER, ACCOUNT, ["status"])
    # when: the worker pushes it (a create: every mapped field, references as remote ids)
    assert remote.push_pending() == 1
    # then
    remote_id, body = remote.writes[0]
    assert body == {"subject": "Lamp", "state": "waiting", "dueAt": "2026-12-01T09:00:00Z", "contactId": "c-1",
                    "ref": ""}
    assert ExternalIdentity.objects.get(content_type__model="ticket").external_id == remote_id
    # when: a local update, then the remote's webhook for our own push
    ticket_update(ticket, {"title": "Desk lamp"})
    remote.push_pending()
    assert remote.writes[-1][1] == {"subject": "Desk lamp"}  # only what changed
    result, _ = remote.deliver(remote_id, at=T0 + dt.timedelta(minutes=5))
    assert result.outcome == Outcome.ECHO
    assert OutboxEntry.objects.filter(status="pending").count() == 0


def test_policies_and_mappings_are_per_kind(remote, ada, org):
    # given: this kind's policy says the local value wins; the contact kind keeps the default
    conflict_policy_set(organization=org, provider=PROVIDER, account_id=ACCOUNT, field="*", policy="local_wins",
                        object_type=KIND)
    remote.tickets["t-2"] = {"subject": "Sofa"}
    remote.deliver("t-2", at=T0)
    ticket = Ticket.objects.get()
    ticket_update(ticket, {"title": "Sofa (ours)"})  # not pushed yet
    remote.tickets["t-2"]["subject"] = "Sofa (theirs)"
    # when
    result, _ = remote.deliver("t-2", at=T0 + dt.timedelta(hours=1))
    # then: both changed, the kind's policy decided, our value goes back
    ticket.refresh_from_db()
    assert ticket.title == "Sofa (ours)" and [c.field for c in result.conflicts] == ["title"]
    assert result.pushed_fields == ["title"]
    # and a mapping row of the same remote key may exist for each kind
    FieldMapping.objects.create(organization=org, provider=PROVIDER, account_id=ACCOUNT, object_type=KIND,
                                remote_key="name", local_field="title")
    FieldMapping.objects.create(organization=org, provider=PROVIDER, account_id=ACCOUNT, object_type="contact",
                                remote_key="name", local_field="full_name")
    assert remote.mapping().by_remote["name"].local_field == "title"


def test_a_mapping_row_is_validated_against_its_kinds_model(toy_kind, org):
    good = FieldMapping(organization=org, provider=PROVIDER, account_id=ACCOUNT, object_type=KIND,
                        remote_key="when", local_field="due_at")
    good.clean()
    with pytest.raises(ValidationError) as refused:
        FieldMapping(organization=org, provider=PROVIDER, account_id=ACCOUNT, object_type=KIND,
                     remote_key="mail", local_field="email").clean()  # a contact's field, not a ticket's
    assert "Ticket has no field 'email'" in str(refused.value)
    with pytest.raises(ValidationError) as unknown:
        FieldMapping(organization=org, provider=PROVIDER, account_id=ACCOUNT, object_type="spaceship",
                     remote_key="x", local_field="title").clean()
    assert "object_type" in unknown.value.message_dict
    assert Contact.objects.count() == 0
