"""The contact kind's GHL half, declared once (listed in `ghl_integration/sync/registry.py`).

The engine's half is `crm/sync/kinds/contact.py`; what each part does is in this package's README.
"""
from crm.sync.kinds import CONTACT

from ..sync.kind import GhlKind
from ..sync.targets import ghl_contact_sync_targets
from ..webhooks.handlers import contacts as contact_webhooks
from . import tasks
from .outbound import ContactPusher
from .services import contacts_on_connected

CONTACTS = GhlKind(
    name=CONTACT,
    # GHL → here as it happens: Contact* events, applied by `inbound.py`
    webhooks=contact_webhooks.registry,
    # here → GHL: each outbox entry of a contact (`outbound.py`)
    pusher=ContactPusher,
    # the locations a local change goes to, unless the connection's `outbound_contacts` is off
    sync_targets=ghl_contact_sync_targets,
    # on connect: the custom fields into the field mapping, then the initial pull
    on_connected=contacts_on_connected,
    # the whole location, in concurrent `dateAdded` slices (`pull.py`)
    pull=tasks.contacts_initial_pull_task,
    # beat: the incremental reconciliation both ways and the nightly deletion sweep (`reconcile.py`), and the
    # resumption of a pull whose worker died
    reconcile=(tasks.reconcile_all_connections_task, tasks.deletion_sweep_all_connections_task,
               tasks.resume_orphaned_pulls_task),
)
