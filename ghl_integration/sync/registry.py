"""Every kind of record GHL syncs, registered in one place.

How does GHL sync opportunities? ``GHL_KINDS`` below → `ghl_integration/opportunities/kind.py` (the one
declaration: webhook family, pusher, outbound switch, on-connect, pull, reconciliation) → the module it names.

`ghl_kinds_register()` (from `GhlIntegrationConfig.ready()`; explicit imports, no autodiscovery) hands each kind's
parts to what runs them: its pusher to the push worker (`push.register_pusher`), its sync-target resolver to
`crm.sync.targets`, its on-connect receiver to `connection_connected`. The webhook dispatcher builds its event
table from the kinds' families (`webhooks/dispatch.py`), and the beat's schedules name their reconcile tasks
(`setup_periodic_tasks`).
"""
from crm.sync.targets import register_target_resolver

from ..calendars.kind import APPOINTMENTS
from ..contacts.kind import CONTACTS
from ..conversations.kind import MESSAGES
from ..opportunities.kind import OPPORTUNITIES
from ..provider import GHL
from ..signals import connection_connected
from .kind import GhlKind
from .push import register_pusher

# The order is the order their on-connect receivers run: the contact pull is queued first (a reconnect's pull
# records what changed here meanwhile before the push of what waited, `wiring.outbox_on_connected`, runs).
GHL_KINDS: tuple[GhlKind, ...] = (CONTACTS, OPPORTUNITIES, APPOINTMENTS, MESSAGES)


def ghl_kind_named(name: str) -> GhlKind:
    """The GHL half of kind ``name``; `LookupError` naming the known ones otherwise."""
    for kind in GHL_KINDS:
        if kind.name == name:
            return kind
    raise LookupError(f"GHL syncs no kind {name!r}; known: {', '.join(k.name for k in GHL_KINDS)}")


def ghl_kinds_register() -> None:
    """Register every kind's parts (once, from ``ready()``: a pusher or a resolver registered twice raises)."""
    for kind in GHL_KINDS:
        if kind.pusher is not None:
            register_pusher(kind.pusher)
        if kind.sync_targets is not None:
            register_target_resolver(GHL.key, kind.sync_targets, object_type=kind.name)
        if kind.on_connected is not None:
            connection_connected.connect(kind.on_connected, dispatch_uid=kind.dispatch_uid)
