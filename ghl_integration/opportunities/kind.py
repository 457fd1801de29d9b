"""The opportunity kind's GHL half, declared once (listed in `ghl_integration/sync/registry.py`).

The engine's half is `crm/sync/kinds/opportunity.py` (deals are applied by `crm.services.opportunity_sync`);
what each part does is in this package's README.
"""
from crm.sync.kinds import OPPORTUNITY

from ..sync.kind import GhlKind
from ..sync.targets import ghl_opportunity_sync_targets
from ..webhooks.handlers import opportunities as opportunity_webhooks
from . import tasks
from .outbound import OpportunityPusher

OPPORTUNITIES = GhlKind(
    name=OPPORTUNITY,
    # GHL → here as it happens: Opportunity* events; each reads the deal and applies it (`inbound.py`)
    webhooks=opportunity_webhooks.registry,
    # here → GHL: each outbox entry of a deal (`outbound.py`)
    pusher=OpportunityPusher,
    # the locations a local change goes to, unless the connection's `outbound_opportunities` is off
    sync_targets=ghl_opportunity_sync_targets,
    # on connect: queue the pull after the commit
    on_connected=tasks.opportunities_on_connected,
    # the pipelines, users and lost reasons, then every deal of the location (`sync.py`)
    pull=tasks.opportunities_pull_task,
    # beat: the reconciliation every 15 minutes and the nightly deletion sweep (`sync.py`)
    reconcile=(tasks.opportunities_reconcile_all_task, tasks.opportunities_deletion_sweep_all_task),
)
