"""`GhlKind`: GHL's half of one kind of record, declared once in the kind's own package.

`crm/sync/kinds/` declares what the provider-neutral engine needs of a kind (model, mapping, match keys, the
services that write it). A `GhlKind` is the other half, how GHL syncs it: each kind's package holds one, in its
``kind.py`` (`contacts/kind.py`, `opportunities/kind.py`, `calendars/kind.py`, `conversations/kind.py`), and
`registry.py` beside this module lists them and registers them, in one place.
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..webhooks.handlers.base import HandlerRegistry
from .push import KindPusher

#: `crm.sync.targets` resolver: ``fn(organization_id) -> [(provider, account_id)]``.
TargetResolver = Callable[[int], list[tuple[str, str]]]


@dataclass(frozen=True)
class GhlKind:
    """How GHL syncs one kind of record, both ways. Every part but ``name`` is optional: a kind declares what it has.

    * ``name``: the kind, as `crm.sync.kinds` and the outbox's ``object_type`` name it (``contact``, ...).
    * ``webhooks``: its webhook family (`webhooks/handlers/<family>.py`): GHL → here, as it happens.
    * ``pusher``: how its outbox entries reach GHL (`sync/push.py` dispatches each entry to it): here → GHL.
    * ``sync_targets``: which locations an organisation's local changes of the kind go to (its outbound switch);
      without one, `crm.sync` records no outbox entry for the kind by itself.
    * ``on_connected``: receiver of `connection_connected` (its mapping, mirror or first pull); invoked after
      the connection row is committed, in the order of `registry.GHL_KINDS`.
    * ``pull``: the Celery task that reads a whole location's records of the kind (``task(connection_id)``).
    * ``reconcile``: the beat's Celery tasks that catch what webhooks missed (scheduled in
      `management/commands/setup_periodic_tasks.py`, which keeps every schedule in one place).
    """

    name: str
    webhooks: HandlerRegistry | None = None
    pusher: type[KindPusher] | None = None
    sync_targets: TargetResolver | None = None
    on_connected: Callable[..., Any] | None = None
    pull: Any = None
    reconcile: tuple[Any, ...] = ()

    @property
    def dispatch_uid(self) -> str:
        return f"ghl.{self.name}.on-connected"
