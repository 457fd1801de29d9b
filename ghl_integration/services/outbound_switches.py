"""Each kind's outbound switch on a connection: whether local changes of contacts / opportunities go to GHL."""
import datetime as dt

from django.db import transaction
from django.utils import timezone

from crm.sync.kinds import CONTACT, OPPORTUNITY

from ..models import GhlConnection
from ..sync.targets import OUTBOUND_SWITCHES

OFF_SINCE_SUFFIX = "_off_since"


@transaction.atomic
def connection_outbound_set(*, connection: GhlConnection, object_type: str, enabled: bool) -> int:
    """Switch pushing local changes of ``object_type`` to the connection's location on or off. Switching it on
    queues what was changed here while it was off (no outbox entry was made for it, and the reconciliation skips
    a kind that is off), merged three-way with GHL's state by the push. Returns how many records were queued."""
    if object_type not in OUTBOUND_SWITCHES:
        raise ValueError(f"No outbound switch for {object_type!r}")
    key = OUTBOUND_SWITCHES[object_type]
    locked = GhlConnection.objects.select_for_update().select_related("organization").get(pk=connection.pk)
    config = dict(locked.config or {})
    was_enabled = bool(config.get(key, True))
    if was_enabled == enabled:
        return 0
    config[key] = enabled
    off_since = config.pop(key + OFF_SINCE_SUFFIX, None)
    if not enabled:
        config[key + OFF_SINCE_SUFFIX] = timezone.now().isoformat()
    locked.config = config
    locked.save(update_fields=["config", "updated_at"])
    connection.config = config
    if not enabled:
        return 0
    since = dt.datetime.fromisoformat(off_since) if off_since else dt.datetime.min.replace(tzinfo=dt.UTC)
    return _queue_changed_while_off(locked, object_type, since)


def _queue_changed_while_off(connection: GhlConnection, object_type: str, since: dt.datetime) -> int:
    # imported here: the sync modules import the services package
    if object_type == OPPORTUNITY:
        from ..opportunities.sync import opportunities_queue_unpushed

        return opportunities_queue_unpushed(connection=connection, since=since)
    assert object_type == CONTACT
    from ..contacts.reconcile import contacts_queue_unpushed

    return contacts_queue_unpushed(connection=connection, since=since)[0]
