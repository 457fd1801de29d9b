"""Kinds of record the sync engine serves: each declares once, here, what the engine needs of it.

A kind (contact now; opportunity, appointment next) is a `SyncKind` registered from an ``AppConfig.ready()``
with `register_kind`. Its ``name`` is the ``object_type`` that keys field mappings, conflict policies, sync
runs and sync targets. The engine (`inbound.py`: match, watermark, echo, three-way merge; `outbox.py`;
`mapping.py`) knows no kind; it asks the kind:

* ``model``: the local model (a `TenantModel`); mapped local fields are validated against it;
* ``clean(organization, values) -> (cleaned, errors)``: normalise remote values (local names, the output of
  `Mapping.to_local`) as a local write would, dropping and reporting (field → message) what fails;
* ``match_keys``: for an unlinked remote record, the cleaned keys tried in order, each with the local fields
  that may hold it (a JSON list field is searched as a member): contacts try email, then phone;
* ``build(organization, cleaned) -> obj``: an unsaved new object (the engine validates and saves it);
* ``update(obj, values) -> changed fields``: write local-named values through the kind's service;
* ``archive(obj)``: the kind's archive service (a remote delete never destroys a row);
* ``created_fields(keys)``: the outbox field names of an object just created from those cleaned keys;
* ``announce_created(obj)``: called after one remote record (a webhook) created a local one, for the kind's
  business event (a pull's pages announce nothing);
* ``field_policies``: per-field conflict policies that differ from the account default (sets merge);
* ``mark_groups``: groups of fields (group name → local fields) the remote sends in events of their own, beside
  the record's other events: each group is ordered by a watermark of its own (`ExternalIdentity.group_marks`),
  so such an event competes only with the other records that carry the group, and the record's watermark
  never drops it (contacts: the per-channel DND flags, GHL's ContactDndUpdate; see `inbound.py`).

How a provider flattens its records, pages through them and pushes them is the provider's half of the kind
(for GHL: one declaration in the kind's own package, e.g. `ghl_integration/contacts/kind.py`, all of them listed
in `ghl_integration/sync/registry.py`; the push worker that dispatches by kind is `ghl_integration/sync/push.py`).
"""
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

CONTACT = "contact"  # the first kind; the default object_type everywhere for compatibility
OPPORTUNITY = "opportunity"  # deals: mapped custom fields and conflict policies of their own


@dataclass(frozen=True)
class MatchKey:
    """A cleaned remote value (``key``) looked up in these local ``fields`` of unlinked active objects."""

    key: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SyncKind:
    name: str
    model: type[models.Model]
    clean: Callable[[Any, dict[str, Any]], tuple[dict[str, Any], dict[str, str]]]
    build: Callable[[Any, dict[str, Any]], models.Model]
    update: Callable[[models.Model, dict[str, Any]], set[str]]
    archive: Callable[[models.Model], Any]
    match_keys: tuple[MatchKey, ...] = ()
    created_fields: Callable[[Iterable[str]], list[str]] = lambda keys: sorted({k.split(".")[0] for k in keys})
    field_policies: dict[str, str] = field(default_factory=dict)
    announce_created: Callable[[models.Model], Any] = lambda obj: None
    mark_groups: dict[str, frozenset[str]] = field(default_factory=dict)

    def groups_in(self, keys: Iterable[str]) -> list[str]:
        """The mark groups of which ``keys`` (a record's local field names) hold at least one field."""
        keys = set(keys)
        return [name for name, fields in self.mark_groups.items() if keys & fields]

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


_kinds: dict[str, SyncKind] = {}
_by_model: dict[str, SyncKind] = {}


def register_kind(kind: SyncKind) -> None:
    """Make ``kind`` known to the engine. Registering a name or a model twice raises."""
    if kind.name in _kinds or kind.label in _by_model:
        raise ValueError(f"A sync kind is already registered as {kind.name!r} or for {kind.label}")
    _kinds[kind.name] = kind
    _by_model[kind.label] = kind


def unregister_kind(name: str) -> None:
    kind = _kinds.pop(name, None)
    if kind is not None:
        _by_model.pop(kind.label, None)


def kind_named(name: str) -> SyncKind:
    """The registered kind called ``name``; `LookupError` naming the known kinds otherwise."""
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"unknown kind of record {name!r}; known: {', '.join(sorted(_kinds)) or 'none'}")


def kind_names() -> list[str]:
    return sorted(_kinds)


def kind_for_model(model: type[models.Model] | models.Model) -> SyncKind | None:
    return _by_model.get(model._meta.concrete_model._meta.label_lower)


def object_type_for(model: type[models.Model] | models.Model) -> str:
    """The object_type of a model's records: its kind's name, else the model's name (a kind whose engine
    declaration has not landed still gets its own targets and outbox entries)."""
    kind = kind_for_model(model)
    return kind.name if kind is not None else model._meta.concrete_model._meta.model_name
