"""The token refresh sweep is bounded in time (#19): it runs on the beat's maintenance queue, which recovers
everything else, so a slow GHL or many locations must not hold it; what is left goes to a follow-up, the tokens
soonest to expire first, each refreshed once."""
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from ghl_integration import tasks
from ghl_integration.connections import tokens
from ghl_integration.models import GhlConnection
from tests.factories import GhlConnectionFactory

pytestmark = pytest.mark.django_db


def test_out_of_time_the_sweep_hands_what_is_left_to_a_follow_up_soonest_first(monkeypatch):
    # given: three location tokens due (one expiring in 5 min, one in 50 min, one already expired) and one not;
    # every sweep out of time after one refresh
    now = timezone.now()
    later, soon, expired = (GhlConnectionFactory(token_expires_at=now + timedelta(minutes=m)) for m in (50, 5, -1))
    GhlConnectionFactory()  # valid for a day: not due
    refreshed: list[int] = []

    def refresh(*, connection_id):
        refreshed.append(connection_id)
        GhlConnection.objects.filter(pk=connection_id).update(token_expires_at=timezone.now() + timedelta(days=1))

    monkeypatch.setattr(tokens, "connection_refresh_tokens", refresh)
    monkeypatch.setattr(tasks, "REFRESH_SWEEP_BUDGET_SECONDS", 0)

    # when: the beat's task, then each follow-up it queues, as a worker would
    follow_ups: list[dict] = []
    with mock.patch.object(tasks.refresh_expiring_connections_task, "apply_async",
                           side_effect=lambda *a, **kw: follow_ups.append(kw)):
        counts = [tasks.refresh_expiring_connections_task()]
        while len(follow_ups) >= len(counts):
            counts.append(tasks.refresh_expiring_connections_task())

    # then: one refresh per task, the soonest to expire first, each once; the last task finds nothing left
    assert refreshed == [expired.pk, soon.pk, later.pk]
    assert [c.get("left", 0) for c in counts] == [2, 1, 0] and len(follow_ups) == 2
    assert [c["refreshed"] for c in counts] == [1, 1, 1]


def test_without_a_budget_the_sweep_refreshes_every_due_token(monkeypatch):
    due = [GhlConnectionFactory(expiring=True) for _ in range(3)]
    refreshed: list[int] = []
    monkeypatch.setattr(tokens, "connection_refresh_tokens", lambda *, connection_id: refreshed.append(connection_id))

    assert tokens.connections_refresh_expiring() == {"refreshed": 3, "failed": 0, "needs_reauthorization": 0}
    assert sorted(refreshed) == sorted(c.pk for c in due)
