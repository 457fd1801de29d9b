"""The settings page's contact sync card: near the top, one rendering for the first view and every live update,
polling by itself right after connecting and while a run goes, a resync called a resync."""
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.sync.models import SyncRun
from ghl_integration.contacts.pull import contacts_initial_pull

pytestmark = pytest.mark.django_db


def _card(html: str) -> str:
    card = re.search(r'<section class="card" id="contact-sync-status".*?</section>', html, re.S).group(0)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", card)  # masked per response


@pytest.fixture
def owner_client(client, org):
    client.force_login(org.memberships.first().user)
    return client


def test_right_after_connecting_the_card_watches_for_the_first_pull(owner_client, connection, org):
    page = owner_client.get(reverse("ghl_settings", kwargs={"org_id": org.pk})).content.decode()

    card = _card(page)
    assert 'data-live="1"' in card and "Starting the first pull of your contacts" in card
    assert page.index('id="contact-sync-status"') < page.index('id="ghl-contact-sync-settings"')  # near the top
    assert "js/live.js" in page
    # the card the page polls is the same rendering
    polled = owner_client.get(reverse("ghl_contact_sync_status_card", kwargs={"org_id": org.pk})).content.decode()
    assert _card(polled) == card


def test_a_resync_is_called_a_resync_and_every_figure_moves_together(owner_client, connection, org):
    contacts_initial_pull(connection=connection)
    card_url = reverse("ghl_contact_sync_status_card", kwargs={"org_id": org.pk})
    finished = owner_client.get(card_url).content.decode()
    assert 'data-live="0"' in finished and "Initial pull: <span id=\"pull-status\" class=\"run-succeeded\">Succeeded" \
        in finished and "Synced records: 50 contacts" in finished

    # when: a resync runs
    resync = SyncRun.objects.create(organization=org, provider="ghl", account_id=connection.location_id,
                                    kind="initial_pull", status="running", progress_done=20, progress_total=50,
                                    started_at=timezone.now(), updated=3)
    running = owner_client.get(card_url).content.decode()

    # then
    assert 'data-live="1"' in running
    assert 'Resync: <span id="pull-status" class="run-running">Running</span>' in running
    assert '<span id="pull-progress">20 / 50</span>' in running
    assert f'<tr id="run-{resync.pk}"><td>Resync</td><td>Running (40%)</td>' in running
    assert ">Initial pull</td>" in running

    # when it ends, the card says so and stops polling
    SyncRun.objects.filter(pk=resync.pk).update(status="succeeded", progress_done=50, finished_at=timezone.now())
    done = owner_client.get(card_url).content.decode()
    assert 'data-live="0"' in done and "50 / 50" in done and "Succeeded" in done


def test_long_after_connecting_with_no_pull_the_card_does_not_poll(owner_client, connection, org):
    connection.connected_at = timezone.now() - timezone.timedelta(hours=1)
    connection.save(update_fields=["connected_at"])

    card = owner_client.get(reverse("ghl_contact_sync_status_card", kwargs={"org_id": org.pk})).content.decode()

    assert 'data-live="0"' in card and "No contact pull yet." in card


def test_members_cannot_read_the_card(client, connection, org):
    from tests.factories import MembershipFactory

    client.force_login(MembershipFactory(organization=org, role="member").user)
    assert client.get(reverse("ghl_contact_sync_status_card", kwargs={"org_id": org.pk})).status_code == 403


def test_synced_counts_read_in_words_one_query(owner_client, connection, org, django_assert_max_num_queries):
    from django.contrib.contenttypes.models import ContentType

    from crm.models import Contact, ExternalIdentity, Pipeline
    from crm.services.contacts import contact_create
    from crm.services.pipelines import pipeline_create
    from ghl_integration.selectors import connection_synced_counts

    def link(obj, n):
        ExternalIdentity.objects.create(organization=org, provider="ghl", account_id=connection.location_id,
                                        external_id=f"g{n}", content_type=ContentType.objects.get_for_model(obj),
                                        object_id=obj.pk)

    for n in range(3):
        link(contact_create(organization=org, first_name=f"P{n}"), n)
    link(pipeline_create(organization=org, name="Sales", stage_names=["New"]), 9)
    ContentType.objects.get_for_models(Contact, Pipeline)  # the content type cache is warm in a running site

    with django_assert_max_num_queries(1):
        counts = connection_synced_counts(connection=connection)

    assert counts == {"contacts": 3, "pipeline": 1}
    card = owner_client.get(reverse("ghl_contact_sync_status_card", kwargs={"org_id": org.pk})).content.decode()
    assert "Synced records: 3 contacts, 1 pipeline</p>" in card
