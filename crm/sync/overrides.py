"""Staff overrides of recorded conflicts (admin actions call these)."""
from django.db import transaction
from django.utils import timezone

from .kinds import kind_for_model
from .models import SyncConflict
from .origin import sync_origin
from .outbox import outbox_record

LOCAL = SyncConflict.Decision.LOCAL
REMOTE = SyncConflict.Decision.REMOTE


@transaction.atomic
def sync_conflict_override(*, conflict: SyncConflict, side: str, user=None) -> SyncConflict:
    """Apply the conflict's ``local`` or ``remote`` value to its record (of any registered kind) and mark the
    conflict overridden.

    The local value is queued for a push to the conflict's account (even if the contact already holds
    it, since the remote may not); the remote value is written under that account's sync origin, so it
    is not pushed back there.
    """
    if side not in (LOCAL, REMOTE):
        raise ValueError("side must be 'local' or 'remote'")
    conflict = SyncConflict.objects.select_for_update().get(pk=conflict.pk)
    model = conflict.content_type.model_class()
    kind = kind_for_model(model)
    if kind is None:
        raise ValueError(f"{conflict.content_type} is not a kind of record the sync engine knows")
    obj = model._default_manager.select_for_update().get(organization_id=conflict.organization_id,
                                                         pk=conflict.object_id)
    if side == LOCAL:
        kind.update(obj, {conflict.field: conflict.local_value})
        outbox_record(obj=obj, fields=[conflict.field],
                      targets=[(conflict.provider, conflict.account_id)])
    else:
        with sync_origin(provider=conflict.provider, account_id=conflict.account_id):
            kind.update(obj, {conflict.field: conflict.remote_value})
    conflict.override_decision = side
    conflict.overridden_at = timezone.now()
    conflict.overridden_by = user if user is not None and user.is_authenticated else None
    conflict.save(update_fields=["override_decision", "overridden_at", "overridden_by"])
    return conflict
