"""The inbox admin: list with filters and search, the pretty payload, the replay action, rejection counters."""

import pytest
from django.urls import reverse
from django.utils import timezone

from ghl_integration.models import WebhookEvent, WebhookRejection

from .conftest import fresh, load_example

pytestmark = pytest.mark.django_db
S = WebhookEvent.Status
CHANGELIST = "admin:ghl_integration_webhookevent_changelist"


def test_replay_action_reprocesses_the_chosen_events(
    admin_client, deliver_payload, broker, active_connection, register_handler
):
    # given: two events that died because the handler was broken, one that was processed
    active_connection()
    behaviour = {"broken": True}
    runs = []

    def handler(event, payload):
        if behaviour["broken"]:
            from ghl_integration.webhooks.handlers.base import PermanentWebhookError

            raise PermanentWebhookError("bug in handler")
        runs.append(event.pk)

    register_handler("ContactUpdate", handler)
    dead = [deliver_payload(fresh(load_example("ContactUpdate.json"))).json()["id"] for _ in range(2)]
    broker.run_all()
    assert set(WebhookEvent.objects.filter(pk__in=dead).values_list("status", flat=True)) == {S.DEAD}

    # when: the handler is fixed and staff replays the two dead events
    behaviour["broken"] = False
    with broker.capture_on_commit(execute=True):
        response = admin_client.post(
            reverse(CHANGELIST), {"action": "replay_events", "_selected_action": dead}, follow=True
        )

    # then
    assert response.status_code == 200
    assert "Queued 2 event(s)" in response.content.decode()
    assert len(broker.drains) == 1  # one drain for the replayed events, not one message each
    assert set(WebhookEvent.objects.filter(pk__in=dead).values_list("status", "attempts")) == {(S.RECEIVED, 0)}
    broker.run_all()
    assert sorted(runs) == sorted(dead)
    assert set(WebhookEvent.objects.filter(pk__in=dead).values_list("status", flat=True)) == {S.PROCESSED}


def test_changelist_filters_and_search(admin_client, deliver_payload, broker):
    payload = fresh(load_example("ContactCreate.json"))
    deliver_payload(payload)
    deliver_payload(fresh(load_example("InvoicePaid.json")))
    url = reverse(CHANGELIST)
    for query in (
        {},
        {"status__exact": "received"},
        {"event_type__exact": "ContactCreate"},
        {"location_id__exact": "Lc9XwR2mT7pQa4VbN8sK"},
        {"received_at__year": str(timezone.now().year)},
        {"q": payload["webhookId"]},
        {"q": "Lc9XwR2mT7pQa4VbN8sK"},
    ):
        response = admin_client.get(url, query)
        assert response.status_code == 200, query
    assert payload["webhookId"] in admin_client.get(url, {"q": payload["webhookId"]}).content.decode()
    filtered = admin_client.get(url, {"event_type__exact": "ContactCreate"}).context["cl"].result_list
    assert [event.event_type for event in filtered] == ["ContactCreate"]


def test_detail_shows_the_payload_pretty_printed_and_escaped(admin_client, deliver_payload, broker):
    event_id = deliver_payload(fresh(load_example("ContactCreate.json"), firstName="<script>x</script>")).json()["id"]
    response = admin_client.get(reverse("admin:ghl_integration_webhookevent_change", args=[event_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "&quot;firstName&quot;: &quot;&lt;script&gt;x&lt;/script&gt;&quot;" in html  # indented, escaped
    assert "<script>x</script>" not in html


def test_rejection_counters_are_listed(admin_client, client):
    client.post("/webhooks/ghl/", data=b"{}", content_type="application/json")
    assert WebhookRejection.objects.get().reason == "missing-signature"
    response = admin_client.get(reverse("admin:ghl_integration_webhookrejection_changelist"))
    assert response.status_code == 200
    assert "missing-signature" in response.content.decode()


def test_non_staff_cannot_replay(client, django_user_model, deliver_payload, broker):
    event_id = deliver_payload(fresh(load_example("ContactCreate.json"))).json()["id"]
    user = django_user_model.objects.create_user("plain", password="pw-123456789")
    client.force_login(user)
    client.post(reverse(CHANGELIST), {"action": "replay_events", "_selected_action": [event_id]})
    broker.sent.clear()
    assert WebhookEvent.objects.get(pk=event_id).attempts == 0
    assert broker.sent == []
