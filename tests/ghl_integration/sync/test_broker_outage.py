"""A broker outage never blocks or fails a local write: the after-commit notify gives up fast with one log
line, the change stays in the outbox, and the minute sweep pushes it once the broker is back."""
import logging
import time

import pytest

from crm.services.contacts import contact_create
from crm.sync.models import OutboxEntry
from ghl_integration.sync import wiring
from tests.broker_outage import broker_down

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_local_write_during_a_broker_outage_is_fast_and_logs_one_line(connected, caplog):
    wiring.connect_outbound()
    caplog.set_level(logging.INFO)
    with broker_down():
        started = time.monotonic()
        contact = contact_create(organization=connected.organization, first_name="Outage", email="o@example.com")
        elapsed = time.monotonic() - started
    assert elapsed < 0.3, f"the write paid {elapsed:.2f} s of broker retries"
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    (line,) = problems
    assert line.exc_info is None and "\n" not in line.getMessage()  # one line, no traceback
    assert line.account_id == connected.location_id and line.error  # with context
    entry = OutboxEntry.objects.get(object_id=contact.pk)
    assert entry.status == OutboxEntry.Status.PENDING  # the sweep picks it up
