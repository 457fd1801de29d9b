"""The accounts an organisation's local contact changes are pushed to (registered in `apps.py`)."""
from ..models import GhlConnection

PROVIDER = "ghl"


def ghl_contact_sync_targets(organization_id: int) -> list[tuple[str, str]]:
    """`crm.sync.targets` resolver: the active connections' location ids, unless the connection's
    ``config["outbound_contacts"]`` is false. One indexed query, no writes."""
    rows = GhlConnection.objects.filter(
        organization_id=organization_id, status=GhlConnection.Status.ACTIVE
    ).exclude(location_id="").values_list("location_id", "config")
    return [(PROVIDER, location_id) for location_id, config in rows if (config or {}).get("outbound_contacts", True)]
