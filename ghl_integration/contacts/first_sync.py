"""Two-way first sync: after a pull has matched every GHL contact it could (email, phone), the contacts that
exist only here are sent to GHL, per the connection's outbound policy, and the owner is told how many. Before it
starts, the linked contacts changed here since they last synced (a reconnect's offline edits) are queued."""
import logging

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from crm.models import Contact, ExternalIdentity
from crm.services.contacts import CONTACT_FIELDS
from crm.sync.models import OutboxEntry
from crm.sync.outbox import outbox_record_created_ids
from crm.sync.targets import sync_targets_for

from ..models import GhlConnection
from .mapping import PROVIDER
from .reconcile import contacts_queue_unpushed

logger = logging.getLogger(__name__)

LOCAL_ONLY_KEY = "local_only_contacts"  # {"found", "queued", "at"} of the last pull, for the settings page
QUEUE_CHANGED_BATCH = 500  # contacts looked at per query


def contacts_push_local_only(*, connection: GhlConnection) -> dict:
    """Queue the creation in GHL of every active contact with no link to the connection's location and no push
    under way or given up (one bulk insert; the push worker creates or, for a duplicate GHL names, links them).
    Nothing is queued when the connection does not push contacts (its outbound policy); the count found is kept
    either way. Returns ``{"found", "queued", "at"}``."""
    content_type = ContentType.objects.get_for_model(Contact)
    scope = {"provider": PROVIDER, "account_id": connection.location_id, "content_type": content_type,
             "object_id": OuterRef("pk")}
    linked = ExternalIdentity.objects.filter(**scope)
    pushing = OutboxEntry.objects.filter(**scope).filter(
        Q(status__in=[OutboxEntry.Status.PENDING, OutboxEntry.Status.IN_PROGRESS, OutboxEntry.Status.FAILED,
                      OutboxEntry.Status.DEAD]))
    ids = list(Contact.objects.for_org(connection.organization).filter(is_archived=False).exclude(
        Exists(linked)).exclude(Exists(pushing)).values_list("pk", flat=True))
    pushes_here = (PROVIDER, connection.location_id) in sync_targets_for(connection.organization_id)
    with transaction.atomic():
        if ids and pushes_here:
            outbox_record_created_ids(model=Contact, organization_id=connection.organization_id, ids=ids,
                                      fields=sorted(CONTACT_FIELDS),
                                      sync_targets=lambda: [(PROVIDER, connection.location_id)])
        summary = {"found": len(ids), "queued": len(ids) if pushes_here else 0, "at": timezone.now().isoformat()}
        locked = GhlConnection.objects.select_for_update().get(pk=connection.pk)
        locked.config = {**(locked.config or {}), LOCAL_ONLY_KEY: summary}
        locked.save(update_fields=["config", "updated_at"])
    logger.info("ghl.sync.local-only-queued", extra={"connection_id": connection.pk, **summary})
    return summary


def contacts_queue_changed_here(*, connection: GhlConnection) -> int:
    """Queue for GHL every linked contact changed here after its link last synced, with no push open: the edits
    made while the location was disconnected (no entry is recorded for an inactive connection), or lost between
    a write and its entry. Called as a pull starts, before GHL's state is applied: a contact GHL did not change
    meanwhile is skipped by the pull (its content hash is the link's), so without this its edit would stay here
    only. The push decides by the conflict policy what both sides changed. Unlinked contacts wait for
    `contacts_push_local_only`, after the pull has matched what it can. Returns how many were queued."""
    queued, after_pk = 0, 0
    while after_pk is not None:
        count, after_pk = contacts_queue_unpushed(connection=connection, since=None, after_pk=after_pk,
                                                  limit=QUEUE_CHANGED_BATCH, linked_only=True)
        queued += count
    if queued:
        logger.info("ghl.sync.changed-here-queued", extra={"connection_id": connection.pk, "queued": queued})
    return queued
