"""The endpoint: every documented payload in, forged ones out, dedup, the replay window, malformed input."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from ghl_integration.models import WebhookEvent, WebhookRejection
from ghl_integration.webhooks import dispatch
from ghl_integration.webhooks.parsing import event_meta_of

from .conftest import (
    WEBHOOK_URL,
    compact,
    example_files,
    fresh,
    load_example,
    sign_ed25519,
    sign_rsa,
)

pytestmark = pytest.mark.django_db

EXAMPLES = example_files()
EXAMPLE_IDS = [p.relative_to(p.parents[1] if p.parent.name == "variants" else p.parent).as_posix() for p in EXAMPLES]


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa"])
@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_every_example_is_accepted_with_a_valid_signature(path, algorithm, deliver_payload, broker):
    # given
    payload = fresh(json.loads(path.read_text()))

    # when
    response = deliver_payload(payload, algorithm=algorithm)

    # then
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    event = WebhookEvent.objects.get()
    assert event.webhook_id == payload["webhookId"]
    assert event.signature_algorithm == algorithm
    assert event.status == WebhookEvent.Status.RECEIVED
    assert json.loads(event.body) == payload
    assert dispatch.is_known_event(event.event_type), event.event_type
    assert broker.drains == [None]  # processing was requested


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_every_example_is_accepted_pretty_printed_as_in_the_file(path, client, settings):
    # The raw file bytes (indented JSON), signed as they are: the signature covers the raw body.
    settings.GHL_WEBHOOK_REPLAY_WINDOW_SECONDS = 10 * 365 * 24 * 3600  # the examples date from March 2026
    body = path.read_bytes()
    response = client.post(
        WEBHOOK_URL, data=body, content_type="application/json", HTTP_X_GHL_SIGNATURE=sign_ed25519(body)
    )
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get().body.encode() == body


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa"])
@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_every_example_is_rejected_with_a_bad_signature(path, algorithm, client, broker):
    # given: a signature of a different body
    payload = fresh(json.loads(path.read_text()))
    body = compact(payload)
    tampered = compact({**payload, "locationId": "attacker"})
    signature = sign_ed25519(tampered) if algorithm == "ed25519" else sign_rsa(tampered)
    header = "HTTP_X_GHL_SIGNATURE" if algorithm == "ed25519" else "HTTP_X_WH_SIGNATURE"

    # when
    response = client.post(WEBHOOK_URL, data=body, content_type="application/json", **{header: signature})

    # then
    assert response.status_code == 401
    assert response.json() == {"error": "bad-signature"}
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.get(reason="bad-signature").count == 1
    assert broker.sent == []


def test_missing_signature_is_401_and_counted(client):
    body = compact(fresh(load_example("ContactCreate.json")))
    for _ in range(3):
        response = client.post(WEBHOOK_URL, data=body, content_type="application/json")
        assert response.status_code == 401
        assert response.json() == {"error": "missing-signature"}
    assert WebhookRejection.objects.get(reason="missing-signature").count == 3
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "signature", ["", "not base64 !!", "AAAA", "=" * 10, "é" * 50, "A" * 5000, "AAAA" * 16, sign_ed25519(b"other")]
)
def test_garbage_signatures_are_401(signature, client):
    body = compact(fresh(load_example("ContactCreate.json")))
    response = client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        HTTP_X_GHL_SIGNATURE=signature,
        HTTP_X_WH_SIGNATURE=signature,
    )
    assert response.status_code == 401
    assert "error" in response.json()


def test_rsa_is_the_fallback_when_the_ed25519_signature_is_bad(client):
    body = compact(fresh(load_example("ContactCreate.json")))
    response = client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        HTTP_X_GHL_SIGNATURE=sign_ed25519(b"something else"),
        HTTP_X_WH_SIGNATURE=sign_rsa(body),
    )
    assert response.status_code == 200
    assert WebhookEvent.objects.get().signature_algorithm == "rsa"


def test_signature_over_the_compact_form_is_accepted_for_a_pretty_body(client):
    # GHL's examples verify JSON.stringify(parsed): a signature over the compact form of a spaced body.
    payload = fresh(load_example("ContactUpdate.json"))
    pretty = json.dumps(payload, indent=2, ensure_ascii=False).encode()
    response = client.post(
        WEBHOOK_URL, data=pretty, content_type="application/json", HTTP_X_GHL_SIGNATURE=sign_ed25519(compact(payload))
    )
    assert response.status_code == 200
    assert WebhookEvent.objects.get().body.encode() == pretty


def test_duplicate_webhook_id_is_acknowledged_and_stored_once(deliver_payload, broker):
    payload = fresh(load_example("ContactCreate.json"))
    first = deliver_payload(payload)
    second = deliver_payload(payload, algorithm="rsa")
    assert first.status_code == second.status_code == 200
    assert second.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1
    assert len(broker.drains) == 1  # the duplicate asked for no processing
    statuses = broker.run_all()
    assert statuses == ["skipped"]  # a contact handler exists; no active connection for the location


def test_same_webhook_id_with_different_bytes_is_still_a_duplicate(deliver):
    payload = fresh(load_example("ContactCreate.json"))
    assert deliver(compact(payload)).status_code == 200
    assert deliver(json.dumps(payload, indent=1)).json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1


def test_without_webhook_id_dedup_is_by_content(deliver):
    payload = fresh(load_example("ContactCreate.json"))
    del payload["webhookId"]
    reordered = dict(reversed(list(payload.items())))
    assert deliver(compact(payload)).json()["status"] == "accepted"
    assert deliver(json.dumps(reordered, indent=2)).json() == {"status": "duplicate"}
    assert deliver(compact({**payload, "city": "Salem"})).json()["status"] == "accepted"
    assert WebhookEvent.objects.count() == 2
    assert all(key.startswith("sha256:") for key in WebhookEvent.objects.values_list("dedup_key", flat=True))


def test_timestamp_inside_the_window_is_accepted_like_a_late_429_retry(deliver_payload, settings):
    late = timezone.now() - timedelta(minutes=70)
    response = deliver_payload(fresh(load_example("ContactCreate.json"), timestamp=late.isoformat()))
    assert response.status_code == 200
    assert WebhookEvent.objects.get().delivered_at == late


def test_stale_timestamp_is_refused_with_a_non_retryable_4xx(deliver_payload):
    stale = timezone.now() - timedelta(minutes=76)
    response = deliver_payload(fresh(load_example("ContactCreate.json"), timestamp=stale.isoformat()))
    assert response.status_code == 400  # not 429: GHL must not retry a replay
    assert response.json() == {"error": "stale-timestamp"}
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.get(reason="stale-timestamp").count == 1


def test_future_timestamp_is_refused(deliver_payload):
    future = timezone.now() + timedelta(minutes=30)
    response = deliver_payload(fresh(load_example("ContactCreate.json"), timestamp=future.isoformat()))
    assert response.status_code == 400
    assert response.json() == {"error": "future-timestamp"}


def test_replay_window_is_configurable(deliver_payload, settings):
    settings.GHL_WEBHOOK_REPLAY_WINDOW_SECONDS = 60
    stale = timezone.now() - timedelta(minutes=2)
    assert deliver_payload(fresh(load_example("ContactCreate.json"), timestamp=stale.isoformat())).status_code == 400


@pytest.mark.parametrize("timestamp", [None, "", "yesterday", 12, [], {"a": 1}, True])
def test_missing_or_unreadable_timestamp_is_accepted_and_deduped(timestamp, deliver_payload):
    payload = fresh(load_example("ContactCreate.json"))
    if timestamp is None:
        del payload["timestamp"]
    else:
        payload["timestamp"] = timestamp
    response = deliver_payload(payload)
    if timestamp == 12:  # epoch seconds: 1970, refused as stale
        assert response.status_code == 400
        return
    assert response.status_code == 200
    assert WebhookEvent.objects.get().delivered_at is None


def test_epoch_millisecond_timestamp_is_understood(deliver_payload):
    now = timezone.now()
    deliver_payload(fresh(load_example("ContactCreate.json"), timestamp=int(now.timestamp() * 1000)))
    assert abs((WebhookEvent.objects.get().delivered_at - now).total_seconds()) < 1


def test_body_over_the_limit_is_413(client, settings):
    settings.GHL_WEBHOOK_MAX_BODY_BYTES = 1000
    body = compact(fresh(load_example("ContactCreate.json"), note="x" * 2000))
    response = client.post(
        WEBHOOK_URL, data=body, content_type="application/json", HTTP_X_GHL_SIGNATURE=sign_ed25519(body)
    )
    assert response.status_code == 413
    assert response.json() == {"error": "payload-too-large"}
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "body, error",
    [
        (b"not json", "invalid-json"),
        (b"", "invalid-json"),
        (b"\xff\xfe{}", "invalid-json"),
        (b"[1, 2]", "not-an-object"),
        (b"42", "not-an-object"),
        (b'"ContactCreate"', "not-an-object"),
        (b"null", "not-an-object"),
        (b"[" * 100_000, "invalid-json"),
    ],
)
def test_signed_bodies_that_are_not_json_objects_are_400(body, error, deliver):
    response = deliver(body)
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "", "multipart/form-data"])
def test_content_type_does_not_matter_only_the_signature_does(content_type, deliver_payload):
    response = deliver_payload(fresh(load_example("ContactCreate.json")), CONTENT_TYPE=content_type)
    assert response.status_code == 200


def test_url_without_trailing_slash_and_other_methods(client, deliver_payload):
    assert client.get(WEBHOOK_URL).status_code == 405
    assert client.get(WEBHOOK_URL).json()
    body = compact(fresh(load_example("ContactCreate.json")))
    response = client.post(
        WEBHOOK_URL.rstrip("/"), data=body, content_type="application/json", HTTP_X_GHL_SIGNATURE=sign_ed25519(body)
    )
    assert response.status_code == 200


def test_accept_header_never_causes_a_406(deliver_payload):
    response = deliver_payload(fresh(load_example("ContactCreate.json")), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_session_and_csrf_do_not_apply(deliver_payload, admin_client):
    # A logged-in browser session would trigger DRF's CSRF check with SessionAuthentication; not here.
    response = deliver_payload(fresh(load_example("ContactCreate.json")))
    assert response.status_code == 200


def test_interesting_headers_are_kept(deliver_payload):
    deliver_payload(fresh(load_example("ContactCreate.json")), HTTP_USER_AGENT="GHL-Webhooks/1.0", HTTP_COOKIE="a=b")
    headers = WebhookEvent.objects.get().headers
    assert headers["user-agent"] == "GHL-Webhooks/1.0"
    assert "x-ghl-signature" in headers
    assert "cookie" not in headers


@pytest.mark.parametrize(
    "name, expected",
    [
        ("AppInstall.json", "INSTALL"),
        ("AppUninstall.json", "UNINSTALL"),
        ("PlanChange.json", "PLAN_CHANGE"),
        ("ConversationUnreadWebhook.json", "ConversationUnreadUpdate"),
        ("ProviderOutboundMessage.json", "ProviderOutboundMessage"),
        ("ProviderOutboundMessage.Email.json", "ProviderOutboundMessage"),
        ("InvoicePaid.json", "InvoiceEvent"),
        ("ProductCreate.json", "ProductEvent"),
        ("PriceCreate.json", "PriceEvent"),
        ("PriceUpdate.json", "PriceEvent"),
        ("AssociationCreate.json", "AssociationEvent"),
        ("RelationCreate.json", "RelationEvent"),
        ("RecordCreate.json", "RecordEvent"),
        ("ObjectSchemaUpdate.json", "ObjectSchemaEvent"),
        ("AppointmentUpdate.json", "AppointmentUpdate"),
    ],
)
def test_event_type_quirks(name, expected):
    assert event_meta_of(load_example(name)).event_type == expected


def test_location_id_is_found_for_invoices_and_locations():
    assert event_meta_of(load_example("InvoiceCreate.json")).location_id == "Lc9XwR2mT7pQa4VbN8sK"
    assert event_meta_of(load_example("LocationUpdate.json")).location_id == "Lc9XwR2mT7pQa4VbN8sK"
    assert event_meta_of(load_example("AppInstall.Agency.json")).location_id == ""
    assert event_meta_of(load_example("AppInstall.Agency.json")).company_id == "Cm4TzK8pQ1vR6wXyB3nJ"


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": 123},
        {"type": ["ContactCreate"]},
        {"type": "x" * 10_000},
        {"type": "Contact\u0000Create"},
        {"type": "\ud800"},
        {"webhookId": {"nested": True}},
        {"webhookId": "w" * 5000},
        {"webhookId": "\u0000\ud83d"},
        {"locationId": None},
        {"locationId": "\u0000" * 100},
        {"locationId": 10**30},
        {"companyId": "🙂" * 1000},
        {"type": "日本語のイベント", "locationId": "ünïcödé"},
    ],
)
def test_wrong_field_types_are_stored_safely(overrides, deliver, broker):
    response = deliver(json.dumps(fresh(load_example("ContactCreate.json"), **overrides)))  # \uXXXX escapes
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.count() == 1
    assert broker.run_all()[0] in ("ignored", "skipped")


def test_the_hot_path_is_a_single_insert(deliver_payload, django_assert_num_queries):
    payload = fresh(load_example("ContactCreate.json"))
    with django_assert_num_queries(1) as captured:
        assert deliver_payload(payload).json()["status"] == "accepted"
    assert captured.captured_queries[0]["sql"].startswith("INSERT")
    with django_assert_num_queries(1):  # the duplicate costs the same one statement, no SELECT first
        assert deliver_payload(payload).json()["status"] == "duplicate"
