"""GHL's side of `crm.contact_remote_lookup`: ask each active connection's location whether it already has a
person (``GET /contacts/search/duplicate``, by email, then by phone) and mirror the one it returns.

Used by writes that would create a contact (the agents' `create_contact`), so a person GHL has but our mirror
has not seen yet is returned as existing instead of being created twice.
"""
import logging

from crm.models import Contact
from crm.selectors.external_ids import local_object_for_external_id
from tenancy.models import Organization

from ..installation import GhlInstallation
from ..models import GhlConnection
from ..timestamps import parse_ghl_time
from .inbound import record_from_ghl
from .mapping import PROVIDER, contact_mapping_for

logger = logging.getLogger(__name__)


def ghl_contact_remote_find(*, organization: Organization, email: str = "", phone: str = "") -> Contact | None:
    connections = GhlConnection.objects.filter(organization=organization, status=GhlConnection.Status.ACTIVE) \
        .exclude(location_id="").order_by("pk")
    for connection in connections:
        with GhlInstallation(connection).get_client() as client:
            for probe in ({"email": email} if email else {}, {"phone": phone} if phone else {}):
                if not probe:
                    continue
                remote = client.contacts.find_duplicate(**probe)
                if remote and remote.get("id"):
                    return _mirrored(connection, remote, matched_by=next(iter(probe)))
    return None


def _mirrored(connection: GhlConnection, remote: dict, *, matched_by: str) -> Contact | None:
    # Imported here: `crm.sync.inbound` imports the models at import time, which `ready()` must not trigger.
    from crm.sync.inbound import contact_apply_remote

    mapping = contact_mapping_for(connection)
    record = record_from_ghl(mapping, remote, remote_updated_at=parse_ghl_time(remote.get("dateUpdated")))
    result = contact_apply_remote(
        organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
        connection_id=connection.pk, external_id=record.external_id, remote=record.remote,
        remote_updated_at=record.remote_updated_at, remote_hash=record.remote_hash,
    )
    logger.info("ghl.contacts.duplicate-found", extra={"connection_id": connection.pk, "matched_by": matched_by,
                                                       "outcome": result.outcome})
    if result.contact is not None:
        return result.contact
    return local_object_for_external_id(model=Contact, provider=PROVIDER, account_id=connection.location_id,
                                        external_id=record.external_id)
