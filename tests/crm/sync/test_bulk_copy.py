"""The COPY path of `contact_apply_remote_page` (PostgreSQL) writes exactly what the ORM path writes."""
import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.forms.models import model_to_dict
from django.utils import timezone

from crm.models import Contact, ExternalIdentity
from crm.sync.inbound import RemoteRecord
from crm.sync.kinds import contact_page as inbound_page
from crm.sync.kinds.contact import contact_build, contact_clean_remote
from crm.sync.kinds.contact_copy import contacts_copy_insert, new_contact_row
from crm.sync.kinds.contact_page import contact_apply_remote_page
from crm.sync.models import OutboxEntry

from .conftest import PROVIDER

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
needs_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL only")

# Remote records in local names, as `Mapping.to_local` hands them over, covering every column kind and the
# values the fast check must refuse (a non-string in a text column, a date as text, too long, junk).
REMOTES = [
    {"first_name": "Ann", "last_name": "Lee", "email": "Ann@Example.com", "phone": "+1 503 555 0142",
     "tags": ["vip", " vip", "new"], "dnd_all": False, "dnd_sms": True, "date_of_birth": dt.date(1990, 5, 1),
     "additional_emails": ["x@y.com"], "additional_phones": ["(503) 555-0143"], "country": "us",
     "custom_properties.plan": "gold", "custom_properties.seats": 3},
    {"first_name": "Bo", "full_name": "Dr. Bo", "city": 12345, "date_of_birth": "1985-02-03"},
    {"first_name": "Cy", "email": "not-an-email", "phone": "555"},
    {"first_name": "Di", "city": "x" * 121},
    {"last_name": "Émile\ttab\\slash\nnewline", "source": "", "custom_properties.note": {"nested": [1, "a"]}},
    {"email": ("a" * 250) + "@b.co"},
    {},
]


def _records(prefix):
    return [RemoteRecord(f"{prefix}-{i}", dict(remote), T0 + dt.timedelta(seconds=i), remote_hash=f"h{i}")
            for i, remote in enumerate(REMOTES)]


def _apply(org, account, records):
    return contact_apply_remote_page(organization=org, provider=PROVIDER, account_id=account, connection_id=7,
                                     records=records)


def _stored(org, account):
    contacts, links = [], []
    for link in ExternalIdentity.objects.filter(account_id=account).order_by("external_id"):
        contact = Contact.objects.get(pk=link.object_id, organization=org)
        contacts.append({k: v for k, v in model_to_dict(contact).items()
                         if k not in ("id", "organization", "created_at")})
        links.append({k: v for k, v in model_to_dict(link).items()
                      if k not in ("id", "object_id", "organization", "last_synced_at")}
                     | {"external_id": link.external_id.split("-")[-1]})
    outbox = sorted((e.account_id, e.object_id in {c.pk for c in Contact.objects.filter(organization=org)},
                     tuple(e.changed_fields)) for e in OutboxEntry.objects.filter(organization=org))
    return contacts, links, outbox


@needs_postgres
def test_copy_path_writes_the_same_rows_counts_errors_and_outbox_as_the_orm_path(org_factory, monkeypatch):
    # given: two organisations that push to another account, so new contacts get outbox entries
    from crm.sync.targets import register_target_resolver, unregister_target_resolver

    register_target_resolver("copy-test", lambda organization_id: [(PROVIDER, "elsewhere")])
    try:
        copy_org, orm_org = org_factory(), org_factory()
        # when: the same page is applied with COPY, and with the ORM
        with_copy = _apply(copy_org, "copy", _records("copy"))
        monkeypatch.setattr(inbound_page, "copy_supported", lambda: False)
        with_orm = _apply(orm_org, "orm", _records("orm"))
    finally:
        unregister_target_resolver("copy-test")

    # then
    assert with_copy.counts == with_orm.counts
    assert with_copy.counts["created"] == 5 and with_copy.counts["failed"] == 2
    assert {k.split("-")[-1]: v for k, v in with_copy.errors.items()} == {
        k.split("-")[-1]: v for k, v in with_orm.errors.items()}
    copy_contacts, copy_links, copy_outbox = _stored(copy_org, "copy")
    orm_contacts, orm_links, orm_outbox = _stored(orm_org, "orm")
    assert copy_contacts == orm_contacts
    assert [{**link, "account_id": ""} for link in copy_links] == [{**link, "account_id": ""} for link in orm_links]
    assert copy_outbox == orm_outbox and len(copy_outbox) == 5
    bo = Contact.objects.get(organization=copy_org, first_name="Bo")
    assert (bo.city, bo.date_of_birth, bo.full_name) == ("12345", dt.date(1985, 2, 3), "Dr. Bo")


@needs_postgres
def test_copy_path_reapplied_page_changes_nothing(org):
    records = [RemoteRecord(f"ext-{i}", {"first_name": f"P{i}", "email": f"p{i}@x.com"}, T0) for i in range(50)]
    assert _apply(org, "loc1", records).counts["created"] == 50
    again = _apply(org, "loc1", records)
    assert again.counts["unchanged"] == 50 and again.counts["created"] == 0
    assert Contact.objects.count() == 50 and ExternalIdentity.objects.count() == 50


@needs_postgres
def test_a_unique_violation_in_copy_is_djangos_integrity_error(org):
    _apply(org, "loc1", [RemoteRecord("ext-1", {"first_name": "A"}, T0)])
    row = new_contact_row(*_cleaned(org, {"first_name": "B"}))
    link = ExternalIdentity.objects.values(
        "organization_id", "provider", "account_id", "connection_id", "content_type_id", "external_id",
        "content_hash", "synced_snapshot", "remote_updated_at", "last_synced_at").get()
    with pytest.raises(IntegrityError):
        contacts_copy_insert(organization_id=org.pk, rows=[row], links=[link], now=timezone.now())


def _cleaned(org, remote):
    cleaned, _ = contact_clean_remote(org, remote)

    def new_contact(values):
        return contact_build(org, values)

    return cleaned, new_contact


@pytest.mark.parametrize("remote", REMOTES + [
    {"dnd_call": "yes"}, {"date_of_birth": dt.datetime(2020, 1, 2, 3, 4, tzinfo=dt.UTC)}, {"timezone": "x" * 64},
    {"timezone": "x" * 65}, {"custom_properties.when": dt.date(2020, 1, 1)}, {"full_name": ""},
])
def test_fast_row_equals_full_clean(org, remote):
    """`new_contact_row` skips `full_clean` only where `full_clean` would pass and change nothing."""
    import json

    cleaned, new_contact = _cleaned(org, remote)
    contact = new_contact(cleaned)
    try:
        contact.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as raised:
            new_contact_row(cleaned, new_contact)
        assert raised.value.message_dict == exc.message_dict
        return
    row = new_contact_row(cleaned, new_contact)
    expected = {k: v for k, v in model_to_dict(contact).items() if k in row}
    for name in ("tags", "additional_emails", "additional_phones", "custom_properties"):
        row[name] = json.loads(row[name])
    assert row == expected and set(row) >= {"first_name", "full_name", "tags", "custom_properties"}


@needs_postgres
def test_sync_tables_analyze_refreshes_the_planner_statistics(org):
    from crm.sync.kinds.contact_copy import sync_tables_analyze

    _apply(org, "loc1", [RemoteRecord(f"ext-{i}", {"first_name": "A"}, T0) for i in range(30)])
    sync_tables_analyze()
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [ExternalIdentity._meta.db_table])
        assert cursor.fetchone()[0] == 30


@needs_postgres
def test_the_page_match_reads_contacts_through_their_indexes_not_the_whole_organisation(org):
    from crm.services.contacts import contact_create
    from crm.sync.inbound import apply_context

    contact_create(organization=org, first_name="A", additional_emails=["a2@example.com"])
    Contact.objects.bulk_create([Contact(organization=org, first_name=f"B{i}", email=f"b{i}@example.com",
                                         phone=f"+1503555{i:04d}") for i in range(3000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_contact")
    statements = []

    def explain(execute, sql, params, many, context):
        if sql.startswith("SELECT"):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN " + sql, params)
                statements.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    ctx = apply_context(org, PROVIDER, "loc1", 1)
    with connection.execute_wrapper(explain):
        matched = inbound_page._bulk_match(ctx, [{"email": f"b{i}@example.com"} for i in range(100)]
                                           + [{"phone": f"+1503555{i:04d}"} for i in range(100, 200)]
                                           + [{"email": "a2@example.com"}])
    [plan] = statements
    assert "Seq Scan" not in plan, plan
    assert {"crm_contact_org_email", "crm_contact_org_phone", "crm_contact_org_more_ids"} <= set(plan.split()), plan
    assert all(matched) and len(set(matched)) == 201
