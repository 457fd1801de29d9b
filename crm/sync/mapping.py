"""Field mapping: remote field keys ↔ local field names, with type conversion and validation.

`crm` knows no provider: the provider passes its standard-field defaults in as data, e.g.
``{"firstName": "first_name", "dnd": ("dnd_all", "boolean")}``; `FieldMapping` rows for the account
override a default with the same ``remote_key`` (an inactive row switches it off) or add custom fields.

Local field names are fields of the kind's model or ``custom_properties.<key>``; `Mapping.to_local` returns
them flat (``{"first_name": "Ann", "custom_properties.plan": "gold"}``) so a remote that sends one custom
field never wipes the others, and conflicts are decided per custom key.

Rows and mappings are per kind of record (``object_type``, see `kinds/`): ``name`` of a contact and of an
opportunity are two mappings. A ``reference`` field is a foreign key carried by the remote as the referenced
record's remote id (an opportunity's ``contactId``): inbound it becomes the local row's id through that
account's `ExternalIdentity` links (a remote id nobody linked is refused, like any invalid value), outbound
the local row's remote id. A ``datetime`` is an aware UTC datetime (ISO 8601 or epoch milliseconds in).
"""
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tenancy.models import Organization

from ..emails import email_is_valid
from ..models import ExternalIdentity
from ..phones import normalize_phone
from .hashing import canonical, content_hash
from .kinds import CONTACT, kind_named
from .models import DataType, Direction, FieldMapping

CUSTOM_PREFIX = "custom_properties."
TRUE_STRINGS = frozenset({"true", "1", "yes", "y", "on", "t"})
FALSE_STRINGS = frozenset({"false", "0", "no", "n", "off", "f", ""})
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%m-%d-%Y", "%Y.%m.%d", "%m.%d.%Y", "%Y_%m_%d", "%m_%d_%Y")


class MappingValidationError(ValueError):
    """Raised by ``to_local(strict=True)``; ``errors`` maps remote keys to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class FieldSpec:
    remote_key: str
    local_field: str
    direction: str = Direction.BOTH
    data_type: str = DataType.TEXT
    is_standard: bool = False  # one of the provider's standard fields (else a custom field id/key)

    @property
    def inbound(self) -> bool:
        return self.direction in (Direction.BOTH, Direction.INBOUND)

    @property
    def outbound(self) -> bool:
        return self.direction in (Direction.BOTH, Direction.OUTBOUND)


def infer_data_type(model: type[models.Model], local_field: str) -> str:
    """The data type a local field implies (custom properties default to text)."""
    if local_field.startswith(CUSTOM_PREFIX):
        return DataType.TEXT
    field = model._meta.get_field(local_field)
    if field.many_to_one:
        return DataType.REFERENCE
    if local_field == "phone":
        return DataType.PHONE
    if isinstance(field, models.EmailField):
        return DataType.EMAIL
    if isinstance(field, models.BooleanField):
        return DataType.BOOLEAN
    if isinstance(field, models.DateTimeField):
        return DataType.DATETIME
    if isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField):
        return DataType.DATE
    if isinstance(field, models.DecimalField | models.IntegerField | models.FloatField):
        return DataType.NUMBER
    if isinstance(field, models.JSONField) and field.default is list:
        return DataType.LIST
    return DataType.TEXT


# Bookkeeping of our own, never a value of the remote's: mapping a remote field onto one of these would let a
# remote value archive contacts or rewrite their history (GHL's dnd once archived every contact it was set on).
INTERNAL_FIELDS = frozenset({"id", "organization", "is_archived", "archived_at", "created_at", "updated_at",
                             "custom_properties"})


def validate_local_field(model: type[models.Model], local_field: str) -> None:
    if local_field.startswith(CUSTOM_PREFIX):
        if not local_field[len(CUSTOM_PREFIX):]:
            raise ValidationError("Name the custom property: custom_properties.<key>.")
        return
    try:
        field = model._meta.get_field(local_field)
    except Exception:
        raise ValidationError(f"{model.__name__} has no field {local_field!r}.")
    if not field.concrete or field.primary_key or field.name in INTERNAL_FIELDS:
        raise ValidationError(f"{local_field} is kept by AgentLevel itself and cannot be mapped.")
    # A foreign key maps as a reference (the remote carries the referenced record's remote id); other
    # relations have no remote form.
    if field.is_relation and not (field.many_to_one and hasattr(field.related_model, "organization_id")):
        raise ValidationError(f"{local_field} is kept by AgentLevel itself and cannot be mapped.")


def to_local_value(value: Any, data_type: str, *, region: str = "US") -> Any:
    """Convert one remote value to its local form; raises ValueError with a readable message."""
    if data_type == DataType.TEXT:
        if value is None:
            return ""
        if isinstance(value, dict | list):
            raise ValueError("expected text, got a structured value")
        return str(value).strip()
    if data_type == DataType.NUMBER:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            raise ValueError("expected a number, got a boolean")
        try:
            number = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number")
        return canonical(number)
    if data_type == DataType.DATE:
        if value in (None, ""):
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        text = str(value).strip()
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            pass
        for fmt in DATE_FORMATS:
            try:
                return dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        raise ValueError(f"{value!r} is not a date")
    if data_type == DataType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in TRUE_STRINGS:
            return True
        if text in FALSE_STRINGS:
            return False
        raise ValueError(f"{value!r} is not a boolean")
    if data_type == DataType.LIST:
        if value in (None, ""):
            return []
        if isinstance(value, str):
            return [value.strip()]
        if not isinstance(value, list | tuple) or any(isinstance(v, dict | list) for v in value):
            raise ValueError("expected a list of strings")
        return [str(v).strip() for v in value if str(v).strip()]
    if data_type == DataType.PHONE:
        return _phone_value(value, region)
    if data_type == DataType.EMAIL:
        return _email_value(value)
    if data_type == DataType.DATETIME:
        return _datetime_value(value)
    raise ValueError(f"unknown data type {data_type!r}")


EPOCH_MS_FROM = 10**11  # a number at least this big is epoch milliseconds (GHL's habit), else seconds


def _datetime_value(value: Any) -> dt.datetime | None:
    """An aware UTC datetime; a naive one is taken as UTC (what remotes mean when they leave the zone out)."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError("expected a date and time, got a boolean")
    if isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(value / 1000 if abs(value) >= EPOCH_MS_FROM else value, tz=dt.UTC)
    elif isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = parse_datetime(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None:
            raise ValueError(f"{value!r} is not a date and time (ISO 8601 expected)")
    else:
        raise ValueError(f"{value!r} is not a date and time")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _phone_value(value: Any, region: str) -> str:
    try:
        return normalize_phone(value, default_region=region)
    except ValidationError as exc:
        raise ValueError(" ".join(exc.messages))


def _email_value(value: Any) -> str:
    email = (value or "").strip().lower() if isinstance(value, str) or value is None else None
    if email is None:
        raise ValueError("expected an email address")
    if email and not email_is_valid(email):
        raise ValueError(f"{value!r} is not a valid email address")
    return email


def _converter(data_type: str, region: str):
    """`to_local_value` for one data type, with the commonest input (a plain str or bool) answered directly and
    phones and emails converted without walking the other types first."""
    if data_type == DataType.TEXT:
        return lambda value: value.strip() if type(value) is str else to_local_value(value, data_type)
    if data_type == DataType.BOOLEAN:
        return lambda value: value if type(value) is bool else to_local_value(value, data_type)
    if data_type == DataType.PHONE:
        return lambda value: _phone_value(value, region)
    if data_type == DataType.EMAIL:
        return _email_value
    return lambda value: to_local_value(value, data_type, region=region)


def to_remote_value(value: Any, data_type: str) -> Any:
    if data_type == DataType.DATETIME:
        moment = _datetime_value(value)
        return None if moment is None else moment.isoformat().replace("+00:00", "Z")
    if data_type == DataType.DATE:
        if value in (None, ""):
            return None
        if isinstance(value, str):
            value = to_local_value(value, DataType.DATE)
        return value.isoformat()
    if data_type == DataType.NUMBER:
        return to_local_value(value, DataType.NUMBER)
    if data_type == DataType.BOOLEAN:
        return to_local_value(value, DataType.BOOLEAN)
    if data_type == DataType.LIST:
        return to_local_value(value, DataType.LIST)
    if value is None:
        return ""
    return value


def split_custom(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``custom_properties.<key>`` items, the other items) of a local-named dict, in one pass."""
    custom: dict[str, Any] = {}
    standard: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith(CUSTOM_PREFIX):
            custom[key] = value
        else:
            standard[key] = value
    return custom, standard


@lru_cache(maxsize=64)
def _foreign_key_attnames(model: type[models.Model]) -> dict[str, str]:
    return {f.name: f.attname for f in model._meta.concrete_fields if f.many_to_one}


def get_local_value(obj: models.Model, local_field: str) -> Any:
    """The local value of a mapped field; a foreign key's is the referenced row's id (no query)."""
    if local_field.startswith(CUSTOM_PREFIX):
        return (obj.custom_properties or {}).get(local_field[len(CUSTOM_PREFIX):])
    return getattr(obj, _foreign_key_attnames(type(obj)).get(local_field, local_field))


class _References:
    """Remote id ↔ local id of the rows a kind's foreign keys point at, through one account's links; each
    answer is kept for the mapping's life (a page maps a hundred records that share a few references)."""

    def __init__(self, *, provider: str, account_id: str):
        self.provider, self.account_id = provider, account_id
        self._local: dict[tuple[int, str], int | None] = {}
        self._remote: dict[tuple[int, int], str | None] = {}

    def to_local(self, model: type[models.Model], external_id: Any) -> int | None:
        if external_id in (None, ""):
            return None
        if isinstance(external_id, dict | list | bool):
            raise ValueError("expected the remote id of a record")
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=True)
        key = (content_type.pk, str(external_id))
        if key not in self._local:
            self._local[key] = ExternalIdentity.objects.filter(
                provider=self.provider, account_id=self.account_id, content_type=content_type,
                external_id=key[1]).values_list("object_id", flat=True).first()
        if self._local[key] is None:
            raise ValueError(f"no local {model._meta.verbose_name} is linked to remote id {external_id!r} (yet)")
        return self._local[key]

    def to_remote(self, model: type[models.Model], local_id: Any) -> str | None:
        if local_id in (None, ""):
            return None
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=True)
        key = (content_type.pk, int(local_id))
        if key not in self._remote:
            self._remote[key] = ExternalIdentity.objects.filter(
                provider=self.provider, account_id=self.account_id, content_type=content_type,
                object_id=key[1]).values_list("external_id", flat=True).first()
        if self._remote[key] is None:
            raise ValueError(f"{model._meta.verbose_name} {local_id} is not linked to this account yet")
        return self._remote[key]


class Mapping:
    """The effective field mapping of one (organisation, provider, account). Build it with `mapping_for`."""

    def __init__(self, *, organization: Organization, provider: str, account_id: str, specs: list[FieldSpec],
                 model: type[models.Model] | None = None, object_type: str = CONTACT):
        self.organization = organization
        self.provider = provider
        self.account_id = account_id
        self.object_type = object_type
        self.model = model or kind_named(object_type).model
        self.references = _References(provider=provider, account_id=account_id)
        self.specs = specs
        self.by_remote = {s.remote_key: s for s in specs}
        # remote key → message, for the last to_local/to_remote call; see `record_errors`.
        self.errors: dict[str, str] = {}
        self._inbound: dict[str, tuple[str, Any]] | None = None
        # Values callers derive from the specs once per mapping (a pull maps every contact with one).
        self.derived: dict[str, Any] = {}

    def _inbound_converters(self) -> dict[str, tuple[str, Any]]:
        """remote key → (local field, converter) for the inbound specs; built once (a pull maps every contact)."""
        if self._inbound is None:
            region = self.organization.default_phone_region
            self._inbound = {s.remote_key: (s.local_field, self._converter(s, region)) for s in self.specs if s.inbound}
        return self._inbound

    def _converter(self, spec: FieldSpec, region: str):
        if spec.data_type != DataType.REFERENCE:
            return _converter(spec.data_type, region)
        related = self.model._meta.get_field(spec.local_field).related_model
        return lambda value: self.references.to_local(related, value)

    def _remote_value(self, obj: models.Model, spec: FieldSpec) -> Any:
        value = get_local_value(obj, spec.local_field)
        if spec.data_type == DataType.REFERENCE:
            return self.references.to_remote(self.model._meta.get_field(spec.local_field).related_model, value)
        return to_remote_value(value, spec.data_type)

    @property
    def inbound_local_fields(self) -> set[str]:
        return {s.local_field for s in self.specs if s.inbound}

    def to_local(self, remote: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
        """Remote dict (standard keys and custom field ids/keys at top level) → ``{local_field: value}``.

        Only keys present in ``remote`` appear in the result (a partial webhook is a partial update).
        Values that fail their type are left out and reported in ``self.errors`` (or raised when strict).
        """
        self.errors = {}
        inbound = self._inbound_converters()
        out: dict[str, Any] = {}
        for key, value in remote.items():
            target = inbound.get(key)
            if target is None:
                continue
            try:
                out[target[0]] = target[1](value)
            except ValueError as exc:
                self.errors[key] = str(exc)
        if strict and self.errors:
            raise MappingValidationError(self.errors)
        return out

    def to_remote(self, obj: models.Model, fields: set[str] | list[str] | None = None) -> dict[str, Any]:
        """``{remote_key: value}`` for the outbound fields of ``obj`` (only those in ``fields`` if given).

        ``fields`` holds local names as the outbox records them; ``custom_properties`` selects every
        mapped custom property. Split the result with `split_standard` to build the provider's payload.
        """
        self.errors = {}
        wanted = set(fields) if fields is not None else None
        out: dict[str, Any] = {}
        for spec in self.specs:
            if not spec.outbound:
                continue
            if wanted is not None and spec.local_field not in wanted and not (
                spec.local_field.startswith(CUSTOM_PREFIX) and "custom_properties" in wanted
            ):
                continue
            try:
                out[spec.remote_key] = self._remote_value(obj, spec)
            except ValueError as exc:
                self.errors[spec.remote_key] = str(exc)
        return out

    def split_standard(self, payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(standard fields, custom fields) of a `to_remote` result, by the provider's defaults."""
        standard = {k: v for k, v in payload.items() if k in self.by_remote and self.by_remote[k].is_standard}
        custom = {k: v for k, v in payload.items() if k not in standard}
        return standard, custom

    def local_values(self, obj: models.Model) -> dict[str, Any]:
        """The inbound-mapped values of ``obj`` in local terms (what `content_hash` is taken over)."""
        return {field: canonical(get_local_value(obj, field)) for field in sorted(self.inbound_local_fields)}

    def remote_hash(self, remote: dict[str, Any]) -> str:
        return content_hash(self.to_local(remote))

    def record_error(self, remote_key: str, error: str, *, subject: str = "") -> FieldMapping:
        """Record that the remote (or validation) rejected ``remote_key``; creates the row for a default.
        ``subject`` names the record whose value was refused (one bad value must not read as a broken mapping)."""
        spec = self.by_remote.get(remote_key)
        row, _ = FieldMapping.objects.get_or_create(
            organization=self.organization, provider=self.provider, account_id=self.account_id,
            object_type=self.object_type, remote_key=remote_key,
            defaults={
                "local_field": spec.local_field if spec else "",
                "direction": spec.direction if spec else Direction.BOTH,
                "data_type": spec.data_type if spec else DataType.TEXT,
                "is_active": spec is not None,
            },
        )
        row.last_error = (f"{subject}: {error}" if subject else str(error))[:2000]
        row.last_error_at = timezone.now()
        row.save(update_fields=["last_error", "last_error_at", "updated_at"])
        return row

    def record_errors(self, *, subject: str = "") -> int:
        """Record every error of the last conversion on its mapping row, naming ``subject``; returns how many."""
        for key, message in self.errors.items():
            self.record_error(key, message, subject=subject)
        return len(self.errors)


def mapping_for(
    *,
    organization: Organization,
    provider: str,
    account_id: str,
    defaults: dict[str, str | tuple[str, str]] | None = None,
    object_type: str = CONTACT,
    model: type[models.Model] | None = None,
) -> Mapping:
    """The effective mapping of one kind of record: the provider's ``defaults`` (remote key → local field, or
    (local, type)), overridden and extended by this account's active `FieldMapping` rows of that kind. One
    query. ``model`` defaults to the kind's model."""
    model = model or kind_named(object_type).model
    specs: dict[str, FieldSpec] = {}
    for remote_key, target in (defaults or {}).items():
        local_field, data_type = target if isinstance(target, tuple) else (target, None)
        specs[remote_key] = FieldSpec(remote_key, local_field, Direction.BOTH,
                                      data_type or infer_data_type(model, local_field), is_standard=True)
    rows = FieldMapping.objects.for_org(organization).filter(provider=provider, account_id=account_id,
                                                             object_type=object_type)
    for row in rows:
        if not row.is_active:
            specs.pop(row.remote_key, None)
            continue
        specs[row.remote_key] = FieldSpec(row.remote_key, row.local_field, row.direction, row.data_type,
                                          is_standard=row.remote_key in (defaults or {}))
    return Mapping(organization=organization, provider=provider, account_id=account_id,
                   specs=list(specs.values()), model=model, object_type=object_type)


def record_subject(obj: models.Model, *, noun: str = "contact") -> str:
    """How a refused value names its record on the mapping row: ``Jane Doe (contact 12)``."""
    return f"{obj} ({noun} {obj.pk})"


def mapping_clear_error(*, mapping_row: FieldMapping) -> FieldMapping:
    mapping_row.last_error = ""
    mapping_row.last_error_at = None
    mapping_row.save(update_fields=["last_error", "last_error_at", "updated_at"])
    return mapping_row
