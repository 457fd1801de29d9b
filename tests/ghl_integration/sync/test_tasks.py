"""The pull task against the sandbox: a redelivery after its worker died resumes the run it started; a new
request starts a new run."""

import pytest
from django.utils import timezone

from crm.models import Contact
from crm.sync.models import SyncRun
from ghl_integration.sync.tasks import contacts_initial_pull_task

from .conftest import ghl_contacts, grow_demo_to, local_by_external_id, page_writes_dying_on

pytestmark = pytest.mark.django_db


def test_a_redelivered_pull_continues_its_own_run_from_the_cursor(ghl, connection):
    grow_demo_to(ghl, 300)
    requested_at = timezone.now().isoformat()
    with page_writes_dying_on(2), pytest.raises(RuntimeError):
        contacts_initial_pull_task(connection.pk, False, requested_at)
    crashed = SyncRun.objects.get()
    assert crashed.progress_done == 100
    ghl.control.clear_request_log()

    status = contacts_initial_pull_task(connection.pk, False, requested_at)  # the same message again

    assert status == "succeeded"
    assert SyncRun.objects.get().pk == crashed.pk
    assert len(ghl.control.request_log(path="/contacts/search")) == 2  # pages 2 and 3, not all three
    assert set(local_by_external_id(connection)) == set(ghl_contacts(ghl)) and Contact.objects.count() == 300


def test_a_new_request_after_an_unfinished_pull_starts_over(ghl, connection):
    grow_demo_to(ghl, 300)
    with page_writes_dying_on(2), pytest.raises(RuntimeError):
        contacts_initial_pull_task(connection.pk, False, timezone.now().isoformat())
    crashed = SyncRun.objects.get()
    ghl.control.clear_request_log()

    status = contacts_initial_pull_task(connection.pk, False, timezone.now().isoformat())  # "Resync", later

    assert status == "succeeded"
    fresh = SyncRun.objects.exclude(pk=crashed.pk).get()
    assert fresh.progress_done == fresh.progress_total == 300
    assert len(ghl.control.request_log(path="/contacts/search")) == 3
