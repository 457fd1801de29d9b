"""Links between ontology rows and their ids in external systems (see `ExternalIdentity`)."""
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from ..models import ExternalIdentity


class ExternalIdConflict(Exception):
    """The external id is already linked to another local row (or the row to another external id)."""


def external_id_link(
    *, obj: models.Model, provider: str, account_id: str, external_id: str, connection_id: int | None = None
) -> ExternalIdentity:
    """Link `obj` to `external_id`; idempotent for the same pair, `ExternalIdConflict` for a different one."""
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    existing = ExternalIdentity.objects.filter(
        provider=provider, account_id=account_id, content_type=content_type, external_id=external_id
    ).first()
    if existing is not None:
        if existing.object_id != obj.pk:
            raise ExternalIdConflict(
                f"{provider} id {external_id} is already linked to {content_type.model} {existing.object_id}"
            )
        return existing
    try:
        with transaction.atomic():
            return ExternalIdentity.objects.create(
                organization_id=obj.organization_id,
                provider=provider,
                account_id=account_id,
                connection_id=connection_id,
                content_type=content_type,
                object_id=obj.pk,
                external_id=external_id,
            )
    except IntegrityError as exc:
        raise ExternalIdConflict(
            f"{content_type.model} {obj.pk} is already linked to another {provider} id in account {account_id}"
        ) from exc


def external_ids_forget_remote_state(*, organization, provider: str, account_id: str,
                                     model: type[models.Model]) -> int:
    """Forget the watermarks (the record's and its field groups') and last content hash of every link of one
    account, so the next pull applies each record again instead of skipping it as already seen (after a
    field-mapping change: the same remote record now means other local values). The three-way merge base
    (`synced_snapshot`) stays, so a local edit still counts as one. Returns how many links were reset."""
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=True)
    return ExternalIdentity.objects.for_org(organization).filter(
        provider=provider, account_id=account_id, content_type=content_type,
    ).update(remote_updated_at=None, group_marks={}, content_hash="")


def external_id_mark_synced(*, obj: models.Model, provider: str, account_id: str) -> None:
    """Stamp `obj`'s link to the account `last_synced_at` now: the remote has just listed it as the mirror holds it
    (a reference record refreshed from the remote's listing, changed or not)."""
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    ExternalIdentity.objects.filter(provider=provider, account_id=account_id, content_type=content_type,
                                    object_id=obj.pk).update(last_synced_at=timezone.now())
