"""`manage.py ghl_sync contacts` against the sandbox over HTTP: the pull with its progress bar, reconcile, sweep,
and every way it refuses or fails (non-zero exit with the reason)."""
import io

import pytest
from django.core.management import CommandError, call_command

from crm.models import Contact
from crm.sync.models import SyncRun
from ghl_integration.contacts.pull import contacts_initial_pull
from tenancy.services import organization_create

from .conftest import (
    LOCATION,
    ghl_contacts,
    grow_demo_to,
    local_by_external_id,
    page_writes_disconnecting,
    page_writes_dying_on,
)

pytestmark = pytest.mark.django_db


def ghl_sync(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("ghl_sync", "contacts", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_pull_by_org_slug_shows_progress_and_a_summary(ghl, connection, org):
    grow_demo_to(ghl, 250)

    out, err = ghl_sync("--org", org.slug, "--page-size", "100")

    assert out.strip() == ("succeeded: 250/250 created=250 updated=0 linked=0 unchanged=0 failed=0 refused=0")
    assert "GHL contacts " + LOCATION in err and "250/250" in err  # the progress bar, on stderr
    assert set(local_by_external_id(connection)) == set(ghl_contacts(ghl))
    # a page of 100, then the remaining 150 (less than two pages) in one request that comes back short
    assert [r["status"] for r in ghl.control.request_log(path="/contacts/search")] == [200, 200]


def test_a_failed_pull_exits_with_the_reason_and_resume_finishes_it(ghl, connection, org):
    grow_demo_to(ghl, 300)
    with page_writes_dying_on(2), \
            pytest.raises(CommandError, match=r"pull failed: RuntimeError: worker killed .*--resume"):
        ghl_sync("--org", str(org.pk))
    assert SyncRun.objects.get().status == "failed"

    out, _ = ghl_sync("--org", str(org.pk), "--resume")

    assert out.startswith("succeeded: 300/300")
    assert SyncRun.objects.get().status == "succeeded"  # the same run, resumed
    assert Contact.objects.count() == 300


def test_a_pull_stopped_by_a_disconnect_exits_non_zero_and_keeps_what_it_wrote(ghl, connection, org,
                                                                               step_by_step_pulls):
    grow_demo_to(ghl, 300)
    with page_writes_disconnecting(connection), \
            pytest.raises(CommandError, match=r"run \d+ cancelled: connection inactive"):
        ghl_sync("--org", org.slug)
    assert 0 < Contact.objects.count() < 300


def test_reconcile_and_sweep_modes_report_what_they_repaired(ghl, connection, org):
    with pytest.raises(CommandError, match="no successful initial pull yet"):
        ghl_sync("--org", org.slug, "--mode", "reconcile")
    ghl_sync("--org", org.slug)
    ghl.control.webhooks(urls=[])
    gone = next(iter(ghl_contacts(ghl)))
    ghl.control.change_contact("delete", contactId=gone)

    reconcile_out, _ = ghl_sync("--org", org.slug, "--mode", "reconcile")
    sweep_out, _ = ghl_sync("--org", org.slug, "--mode", "sweep")

    assert reconcile_out.strip() == "reconcile succeeded: requests=1 repaired=0"
    assert sweep_out.strip() == "deletion sweep succeeded: requests=1 archived=1"
    assert local_by_external_id(connection)[gone].is_archived


@pytest.mark.parametrize(("args", "message"), [
    (["--org", "no-such-org"], "No organisation 'no-such-org'"),
    (["--org", "999999"], "No organisation '999999'"),
    (["--org", "{org}", "--page-size", "0"], "--page-size must be between 1 and 500"),
    (["--org", "{org}", "--page-size", "501"], "--page-size must be between 1 and 500"),
    (["--org", "{org}", "--mode", "sweep", "--resume"], "--resume continues an initial pull"),
])
def test_bad_arguments_are_refused_before_anything_runs(ghl, connection, org, args, message):
    with pytest.raises(CommandError, match=message):
        ghl_sync(*[a.format(org=org.slug) for a in args])
    assert ghl.control.request_log(path="/contacts/search") == []
    assert not SyncRun.objects.exists()


def test_an_organisation_without_a_connection_is_refused(ghl, connection, org):
    other = organization_create(name="Unconnected Clinic", owner=org.memberships.first().user)

    with pytest.raises(CommandError, match="has no active GHL location connection"):
        ghl_sync("--org", other.slug)


def test_a_pull_at_ghls_largest_page_never_asks_for_more(ghl, connection):
    # given: exactly two pages of 500, where the walk's look-ahead of one contact would ask for 501 (GHL: 422);
    # with no room to look ahead, an empty third page ends the walk
    grow_demo_to(ghl, 1000)

    result = contacts_initial_pull(connection=connection, page_size=500)

    assert result.run.status == "succeeded"
    assert set(local_by_external_id(connection)) == set(ghl_contacts(ghl))
    assert [r["status"] for r in ghl.control.request_log(path="/contacts/search")] == [200, 200, 200]


@pytest.mark.parametrize("page_size", [0, 501])
def test_a_pull_refuses_a_page_size_ghl_would_refuse(connection, page_size):
    with pytest.raises(ValueError, match="page_size must be between 1 and 500"):
        contacts_initial_pull(connection=connection, page_size=page_size)
    assert not SyncRun.objects.exists()
