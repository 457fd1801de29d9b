"""Small reference records the CRM account owns and we only mirror: its users, its lost reasons.

Each row is linked to its remote id through `ExternalIdentity`; a refresh upserts what the remote lists and
archives (never deletes) linked rows it no longer lists, so deals that point at them keep their history.
Writes run under the remote's sync origin: nothing here is pushed back.
"""
import hashlib

from django.db import connection, models, transaction
from django.utils import timezone

from tenancy.models import Organization

from ..models import CrmUser, ExternalIdentity, LostReason
from ..selectors.external_ids import local_object_for_external_id
from ..sync.origin import sync_origin
from .external_ids import external_id_link, external_id_mark_synced


def mirror_lock(*, provider: str, account_id: str, what: str) -> None:
    """Inside a transaction: wait for any other refresh of ``what`` of this account (two webhook workers, or a
    pull and a webhook, each finding an id they lack) so that neither creates a row the other is creating. A
    PostgreSQL transaction-level advisory lock; other databases (development) run one process."""
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(f"mirror {what} {provider} {account_id}".encode()).digest()[:8], "big",
                         signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _upsert(*, model: type[models.Model], organization: Organization, provider: str, account_id: str,
            external_id: str, fields: dict, connection_id: int | None) -> models.Model:
    with transaction.atomic(), sync_origin(provider=provider, account_id=account_id, connection_id=connection_id):
        mirror_lock(provider=provider, account_id=account_id, what=model._meta.label_lower)
        row = local_object_for_external_id(model=model, provider=provider, account_id=account_id,
                                           external_id=external_id)
        if row is None:
            row = model.objects.create(organization=organization, **fields)
            external_id_link(obj=row, provider=provider, account_id=account_id, external_id=external_id,
                             connection_id=connection_id)
            external_id_mark_synced(obj=row, provider=provider, account_id=account_id)
            return row
        external_id_mark_synced(obj=row, provider=provider, account_id=account_id)
        changed = [name for name, value in fields.items() if getattr(row, name) != value]
        for name in changed:
            setattr(row, name, fields[name])
        if row.is_archived:
            row.is_archived, row.archived_at = False, None
            changed += ["is_archived", "archived_at"]
        if changed:
            row.save(update_fields=[*changed, "updated_at"])
        return row


def mirrored_archive_missing(*, model: type[models.Model], organization: Organization, provider: str,
                             account_id: str, present_external_ids: set[str]) -> int:
    """Archive the linked rows of ``model`` whose remote id is not in ``present_external_ids``; returns how many."""
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(model, for_concrete_model=True)
    links = ExternalIdentity.objects.for_org(organization).filter(provider=provider, account_id=account_id,
                                                                  content_type=ct)
    gone = [object_id for object_id, external_id in links.values_list("object_id", "external_id")
            if external_id not in present_external_ids]
    return model.objects.for_org(organization).filter(pk__in=gone, is_archived=False).update(
        is_archived=True, archived_at=timezone.now(), updated_at=timezone.now())


def crm_user_upsert_from_remote(*, organization: Organization, provider: str, account_id: str, external_id: str,
                                name: str, email: str = "", phone: str = "",
                                connection_id: int | None = None) -> CrmUser:
    fields = {"name": (name or "").strip()[:200], "email": (email or "").strip().lower()[:254],
              "phone": (phone or "").strip()[:40]}
    return _upsert(model=CrmUser, organization=organization, provider=provider, account_id=account_id,
                   external_id=external_id, fields=fields, connection_id=connection_id)


def lost_reason_upsert_from_remote(*, organization: Organization, provider: str, account_id: str, external_id: str,
                                   name: str, connection_id: int | None = None) -> LostReason:
    return _upsert(model=LostReason, organization=organization, provider=provider, account_id=account_id,
                   external_id=external_id, fields={"name": (name or "").strip()[:200] or external_id},
                   connection_id=connection_id)
