"""The accounts an organisation's local changes are pushed to, per kind of record (each named by its kind's
declaration, `<kind>/kind.py`, and registered by `registry.ghl_kinds_register()`).

Each kind has its own switch in the connection's ``config`` (`OUTBOUND_SWITCHES`), on unless set false: an
owner can keep GHL's deals read-only here while contacts still go both ways, or the other way round.
"""
from crm.sync.kinds import CONTACT, OPPORTUNITY

from ..models import GhlConnection

PROVIDER = "ghl"
OUTBOUND_SWITCHES = {CONTACT: "outbound_contacts", OPPORTUNITY: "outbound_opportunities"}


def outbound_enabled(connection: GhlConnection, object_type: str) -> bool:
    """Whether local changes of ``object_type`` go to this connection's location."""
    return bool((connection.config or {}).get(OUTBOUND_SWITCHES[object_type], True))


def _targets(organization_id: int, object_type: str) -> list[tuple[str, str]]:
    rows = GhlConnection.objects.filter(
        organization_id=organization_id, status=GhlConnection.Status.ACTIVE
    ).exclude(location_id="").values_list("location_id", "config")
    switch = OUTBOUND_SWITCHES[object_type]
    return [(PROVIDER, location_id) for location_id, config in rows if (config or {}).get(switch, True)]


def ghl_contact_sync_targets(organization_id: int) -> list[tuple[str, str]]:
    """`crm.sync.targets` resolver: the active connections' location ids, unless the connection's
    ``config["outbound_contacts"]`` is false. One indexed query, no writes."""
    return _targets(organization_id, CONTACT)


def ghl_opportunity_sync_targets(organization_id: int) -> list[tuple[str, str]]:
    """The same for opportunities, switched by ``config["outbound_opportunities"]``."""
    return _targets(organization_id, OPPORTUNITY)
