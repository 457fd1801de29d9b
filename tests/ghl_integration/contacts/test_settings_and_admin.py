"""Contact sync on the settings page (progress, runs, resync button, JSON status) and in admin."""
import datetime as dt
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from ghl_integration.admin import GhlConnectionAdmin
from ghl_integration.contacts.pull import contacts_initial_pull
from ghl_integration.models import GhlConnection

from .conftest import connect

pytestmark = pytest.mark.django_db


def test_settings_page_shows_pull_progress_and_runs(client, connection, org):
    contacts_initial_pull(connection=connection)
    client.force_login(org.memberships.first().user)

    page = client.get(reverse("ghl_settings", kwargs={"org_id": org.pk}))
    status = client.get(reverse("ghl_contact_sync_status", kwargs={"org_id": org.pk})).json()

    html = page.content.decode()
    assert 'id="contact-sync-status"' in html and "50 / 50" in html and "Initial pull" in html
    assert status["pull"]["status"] == "succeeded" and status["pull"]["done"] == status["pull"]["total"] == 50
    assert status["runs"][0]["counts"]["created"] == 50


def test_resync_button_queues_a_pull_after_commit(client, connection, org, django_capture_on_commit_callbacks):
    client.force_login(org.memberships.first().user)
    with mock.patch("ghl_integration.contacts.tasks.contacts_initial_pull_task.delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("ghl_contact_sync_resync", kwargs={"org_id": org.pk}))
    assert response.status_code == 302
    delay.assert_called_once_with(connection.pk, False, mock.ANY)
    requested_at = dt.datetime.fromisoformat(delay.call_args.args[2])
    assert abs(timezone.now() - requested_at) < dt.timedelta(seconds=5)  # a redelivery resumes what it started


def test_connecting_queues_the_initial_pull(ghl, org, settings, django_capture_on_commit_callbacks):
    settings.GHL_SYNC_PULL_ON_CONNECT = True
    with mock.patch("ghl_integration.contacts.tasks.contacts_initial_pull_task.delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        connection = connect(ghl, org, settings)
    delay.assert_called_once_with(connection.pk, False, mock.ANY)


def test_admin_resync_action_and_progress(rf, connection, admin_user):
    from django.contrib.admin.sites import site

    model_admin = GhlConnectionAdmin(GhlConnection, site)
    contacts_initial_pull(connection=connection)
    assert "50 / 50" in model_admin.contact_pull_progress(connection)
    request = rf.post("/")
    request.user = admin_user
    with mock.patch("ghl_integration.contacts.services.contacts_initial_pull_queue") as queue, \
            mock.patch.object(model_admin, "message_user"):
        model_admin.resync_contacts(request, GhlConnection.objects.filter(pk=connection.pk))
    queue.assert_called_once_with(connection_id=connection.pk, resume=False)
