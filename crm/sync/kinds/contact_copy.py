"""New contacts and their links written with PostgreSQL `COPY`, for `contact_page` (initial pull, reconciliation).

Why: an initial pull is GIL-bound, and GHL's sliding window delivers its last 100 pages within about a second,
so every page must be written in a few milliseconds of CPU. The ORM's `bulk_create` spent most of a page's
CPU building model instances, running `full_clean` and quoting UNNEST arrays client-side; `COPY` sends the
rows as text that PostgreSQL parses, and taking the ids from the sequence first lets the links and outbox
rows be written without a RETURNING round trip.

Validation is unchanged: `new_contact_row` accepts without `full_clean` only values that `full_clean` would
accept and leave as they are (strings within ``max_length``, booleans, dates, JSON-able lists and dicts);
anything else is built as a `Contact` and goes through `full_clean` exactly as the ORM path does, so the
same records fail with the same messages. Other databases keep the ORM path (`copy_supported`).
"""
import datetime as dt
import json
from functools import cache
from operator import itemgetter
from typing import Any

from django.core.validators import MaxLengthValidator, validate_email
from django.db import connection, models

from ...models import Contact, ExternalIdentity
from ...services.contacts import full_name_for
from ..mapping import CUSTOM_PREFIX, split_custom

# Contact columns `new_contact_row` fills; the rest (id, organization, archive flags, timestamps) are set on write.
_SET_ON_WRITE = frozenset({"id", "organization_id", "is_archived", "archived_at", "created_at", "updated_at"})


def copy_supported() -> bool:
    return connection.vendor == "postgresql"


def _kind(field: models.Field) -> str | None:
    """How `new_contact_row` checks ``field`` without `full_clean`; None: it cannot, so `full_clean` runs."""
    validators = field.validators
    if field.choices:
        return None
    if isinstance(field, models.JSONField) and field.encoder is None and not validators:
        return "json"
    if isinstance(field, models.BooleanField) and not validators:
        return "bool"
    if type(field) is models.DateField and not validators:
        return "date"
    max_length = [v for v in validators if isinstance(v, MaxLengthValidator)]
    if type(field) is models.EmailField and len(validators) == 2 and validators[0] is validate_email and max_length:
        return "email"
    if type(field) is models.CharField and len(validators) == 1 and max_length:
        return "char"
    return None


@cache
def _contact_plan() -> tuple[tuple[tuple[str, str | None, int | None], ...], dict[str, Any], dict[str, Any]]:
    """((attname, kind, max_length), ...) for the columns `new_contact_row` fills, their scalar defaults, and
    the JSON columns' encoders."""
    plan, defaults, json_encoders = [], {}, {}
    for field in Contact._meta.concrete_fields:
        if field.attname in _SET_ON_WRITE:
            continue
        plan.append((field.attname, _kind(field), field.max_length))
        if not (field.has_default() and callable(field.default)):  # callables (list, dict) are fresh per row
            defaults[field.attname] = field.get_default()
        if isinstance(field, models.JSONField):
            json_encoders[field.attname] = field.encoder
    return tuple(plan), defaults, json_encoders


def _dump_json(row: dict[str, Any], json_encoders: dict[str, Any]) -> dict[str, Any]:
    for attname, encoder in json_encoders.items():
        value = row[attname]
        # Most contacts have no additional emails or phones and no custom properties.
        row[attname] = "[]" if value == [] else "{}" if value == {} else json.dumps(value, cls=encoder)
    return row


@cache
def _fast_checks() -> tuple[tuple[tuple[str, int], ...], tuple[str, ...], tuple[str, ...], bool]:
    """The plan's columns grouped by kind, so `new_contact_row` checks them without a call per column:
    (char/email columns with their max length, bool columns, date columns, whether every column has a kind)."""
    plan, _, _ = _contact_plan()
    chars = tuple((attname, max_length) for attname, kind, max_length in plan if kind in ("char", "email"))
    bools = tuple(attname for attname, kind, _ in plan if kind == "bool")
    dates = tuple(attname for attname, kind, _ in plan if kind == "date")
    return chars, bools, dates, all(kind is not None for _, kind, _ in plan)


def _valid_row(row: dict[str, Any]) -> bool:
    """Would `full_clean` accept every column of ``row`` and leave it unchanged? Strings within ``max_length``
    (an email value comes from `contact_clean_fields`, which ran the same `validate_email` already), booleans,
    dates; JSON columns take whatever `json.dumps` takes, checked when the row is dumped."""
    chars, bools, dates, all_known = _fast_checks()
    if not all_known:
        return False
    for attname, max_length in chars:
        value = row[attname]
        if type(value) is not str or len(value) > max_length:
            return False
    for attname in bools:
        if type(row[attname]) is not bool:
            return False
    for attname in dates:
        value = row[attname]
        if value is not None and type(value) is not dt.date:
            return False
    return True


def new_contact_row(cleaned: dict[str, Any], new_contact) -> dict[str, Any]:
    """Column values (by attname; JSON columns as JSON text) of a new contact from ``cleaned``
    (`contact_clean_fields` output plus ``custom_properties.<key>`` values), as `contact_build` + `full_clean`
    would leave them. Raises `ValidationError` exactly where `full_clean` does: values it cannot vouch for
    go through ``new_contact(cleaned)`` (a `Contact`) and its `full_clean`."""
    plan, defaults, json_encoders = _contact_plan()
    custom, standard = split_custom(cleaned)
    row = {**defaults, "additional_emails": [], "additional_phones": [], "tags": [], **standard,
           "custom_properties": {k[len(CUSTOM_PREFIX):]: v for k, v in custom.items()}}
    row["full_name"] = full_name_for(first_name=row["first_name"], last_name=row["last_name"],
                                     full_name=row["full_name"], explicit_full_name="full_name" in standard)
    if len(row) == len(plan) and "custom_properties" not in standard and _valid_row(row):
        try:
            return _dump_json(row, json_encoders)
        except (TypeError, ValueError):
            pass  # full_clean reports it
    contact = new_contact(cleaned)
    contact.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
    return _dump_json({attname: getattr(contact, attname) for attname, _, _ in plan}, json_encoders)


def _sequence_ids(cursor, model: type[models.Model], count: int) -> list[int]:
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                   [model._meta.db_table, count])
    return sorted(pk for (pk,) in cursor.fetchall())


def _copy(cursor, model: type[models.Model], columns: list[str], rows) -> None:
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # noqa: S608 - names from the model
        for row in rows:
            copy.write_row(row)


def contacts_copy_insert(*, organization_id: int, rows: list[dict[str, Any]], links: list[dict[str, Any]],
                         now: dt.datetime) -> list[int]:
    """Insert the contacts (``rows`` from `new_contact_row`) and one link each (ExternalIdentity column values
    without ``object_id``), in the caller's transaction. Returns the new contacts' ids, in order."""
    plan, _, _ = _contact_plan()
    columns = [attname for attname, _, _ in plan]
    link_columns = [c for c in links[0] if c not in ("synced_snapshot", "group_marks")]
    # itemgetter picks a row's values in C: a page has thousands of them.
    contact_values, link_values = itemgetter(*columns), itemgetter(*link_columns)
    # A unique violation (a concurrent writer linked the same record) surfaces as Django's IntegrityError,
    # which the caller's retry expects.
    with connection.wrap_database_errors, connection.cursor() as cursor:
        ids = _sequence_ids(cursor, Contact, len(rows))
        _copy(cursor, Contact, ["id", "organization_id", "is_archived", "archived_at", "created_at",
                                "updated_at", *columns], (
            (pk, organization_id, False, None, now, now, *contact_values(row))
            for pk, row in zip(ids, rows, strict=True)
        ))
        _copy(cursor, ExternalIdentity, ["object_id", *link_columns, "synced_snapshot", "group_marks", "created_at",
                                         "updated_at"], (
            (pk, *link_values(link), json.dumps(link["synced_snapshot"]), json.dumps(link.get("group_marks") or {}),
             now, now)
            for pk, link in zip(ids, links, strict=True)
        ))
    return ids


def sync_tables_analyze() -> None:
    """Refresh PostgreSQL's statistics of the contact and link tables (no-op elsewhere).

    A pull into a new account grows both tables a thousandfold within seconds, long before autovacuum's next
    ANALYZE; planned on the empty table's statistics, the page's link lookup scans every link of the account
    instead of using `uniq_external_id`, and a page gets slower as the pull goes on.
    """
    if copy_supported():
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Contact._meta.db_table}, {ExternalIdentity._meta.db_table}")
