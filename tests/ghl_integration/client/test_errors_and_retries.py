"""Error mapping, the 401 refresh-once rule, and bounded retries with backoff (fake clock: no real waiting)."""

import email.utils
import logging

import pytest
import requests
import urllib3

from ghl_integration.client import (
    GhlApiError,
    GhlAuthError,
    GhlNetworkError,
    GhlNotFound,
    GhlRateLimited,
    GhlServerError,
    GhlValidationError,
)
from ghl_integration.client.base import parse_retry_after
from tests.ghl_integration.openapi_contract import validate_response

from .conftest import BASE_URL, FRESH_TOKEN, TOKEN, api_fixture

CONTACT_URL = f"{BASE_URL}/contacts/ocQHyuzHvysMo5N5VsXc"
CREATE_URL = f"{BASE_URL}/contacts/"
SEND_URL = f"{BASE_URL}/conversations/messages"


def assert_no_secret(exc):
    for text in (str(exc), repr(exc), str(exc.__dict__)):
        assert TOKEN not in text and FRESH_TOKEN not in text


@pytest.mark.parametrize(
    ("status", "fixture", "headers", "exc_type", "request_id"),
    [
        (400, "error_400_duplicate_contact", {}, GhlValidationError, "9f7c1a52-2f0c-4a5e-8c11-3d3c0f6e1b20"),
        (422, "error_422", {"X-Request-Id": "req-422"}, GhlValidationError, "req-422"),
        (403, "error_401", {}, GhlAuthError, None),
        (404, "error_404", {}, GhlNotFound, "4b8e2f90-1111-4e0a-9d5e-aa00bb11cc22"),
        (409, "error_404", {}, GhlApiError, "4b8e2f90-1111-4e0a-9d5e-aa00bb11cc22"),
        (500, "error_502", {"X-Request-Id": "req-500"}, GhlServerError, "req-500"),
    ],
)
def test_error_statuses_map_to_typed_exceptions(client, rsps, status, fixture, headers, exc_type, request_id):
    rsps.add("GET", CONTACT_URL, json=api_fixture(fixture), status=status, headers=headers)

    with pytest.raises(exc_type) as info:
        client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    exc = info.value
    assert type(exc) is exc_type
    assert exc.status == status
    assert exc.body == api_fixture(fixture)
    assert exc.request_id == request_id
    assert (exc.method, exc.path) == ("GET", "/contacts/ocQHyuzHvysMo5N5VsXc")
    assert len(rsps.calls) == 1  # 4xx and 500 are never retried
    assert_no_secret(exc)
    validate_response("GET", "/contacts/ocQHyuzHvysMo5N5VsXc", status, api_fixture(fixture))


def test_duplicate_contact_keeps_meta(client, rsps):
    rsps.add("POST", CREATE_URL, json=api_fixture("error_400_duplicate_contact"), status=400)

    with pytest.raises(GhlValidationError) as info:
        client.contacts.create({"email": "ada@example.com"})

    assert info.value.duplicate_contact_id == "ocQHyuzHvysMo5N5VsXc"
    assert info.value.meta["matchingField"] == "email"
    assert info.value.messages == ["This location does not allow duplicated contacts."]


def test_422_messages_are_a_list(client, rsps):
    rsps.add("POST", CREATE_URL, json=api_fixture("error_422"), status=422)

    with pytest.raises(GhlValidationError) as info:
        client.contacts.create({"email": "not-an-email"})

    assert info.value.messages == ["email must be an email", "phone must be a valid phone number"]
    assert "email must be an email" in str(info.value)


def test_401_refreshes_the_token_once_and_retries_once(client, rsps, token_provider):
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_401"), status=401)
    rsps.add("GET", CONTACT_URL, json=api_fixture("contact"), status=200)

    contact = client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    assert contact["id"] == "ocQHyuzHvysMo5N5VsXc"
    assert token_provider.calls == [False, True]
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert rsps.calls[1].request.headers["Authorization"] == f"Bearer {FRESH_TOKEN}"


def test_second_401_raises_auth_error_without_a_second_refresh(client, rsps, token_provider):
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_401"), status=401)
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_401"), status=401)

    with pytest.raises(GhlAuthError) as info:
        client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    assert len(rsps.calls) == 2
    assert token_provider.calls == [False, True]
    assert info.value.status == 401
    assert_no_secret(info.value)


def test_refresh_then_retryable_error_keeps_the_fresh_token(client, rsps, token_provider):
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_401"), status=401)
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_502"), status=503)
    rsps.add("GET", CONTACT_URL, json=api_fixture("contact"), status=200)

    client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    assert token_provider.calls == [False, True, False]
    assert rsps.calls[2].request.headers["Authorization"] == f"Bearer {FRESH_TOKEN}"


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retryable_statuses_are_retried_then_succeed(client, rsps, clock, status):
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_502"), status=status)
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_502"), status=status)
    rsps.add("GET", CONTACT_URL, json=api_fixture("contact"), status=200)

    assert client.contacts.get("ocQHyuzHvysMo5N5VsXc")["id"]

    assert len(rsps.calls) == 3
    assert len(clock.sleeps) >= 2


def test_backoff_is_exponential_with_full_jitter_and_bounded_in_attempts(client, rsps, clock, retry_policy):
    for _ in range(retry_policy.max_attempts):
        rsps.add("GET", CONTACT_URL, json=api_fixture("error_502"), status=503)

    with pytest.raises(GhlServerError) as info:
        client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    assert info.value.status == 503
    assert len(rsps.calls) == retry_policy.max_attempts
    assert len(clock.sleeps) == retry_policy.max_attempts - 1
    for attempt, delay in enumerate(clock.sleeps):
        assert 0 <= delay <= min(retry_policy.cap_s, retry_policy.base_s * 2**attempt)


def test_retries_are_bounded_in_total_time(client, rsps, clock):
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_429"), status=429, headers={"Retry-After": "100"})

    with pytest.raises(GhlRateLimited) as info:
        client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    assert len(rsps.calls) == 1  # waiting 100 s would break the 30 s total budget
    assert info.value.retry_after == 100
    assert sum(clock.sleeps) == 0


def test_retry_after_seconds_is_honoured(client, rsps, clock):
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_429"), status=429, headers={"Retry-After": "3"})
    rsps.add("GET", CONTACT_URL, json=api_fixture("contact"), status=200)

    client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    assert clock.sleeps[0] == 3.0
    assert sum(clock.sleeps) == pytest.approx(3.0, abs=0.01)  # the limiter hold expires with the delay


def test_retry_after_http_date_is_honoured():
    now = 1_800_000_000.0
    value = email.utils.formatdate(now + 7, usegmt=True)

    assert parse_retry_after(value, now=now) == pytest.approx(7, abs=0.01)
    assert parse_retry_after("2", now=now) == 2
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0


def test_429_without_retry_after_waits_the_rate_limit_interval(client, rsps, clock):
    headers = {"X-RateLimit-Interval-Milliseconds": "4000", "X-RateLimit-Max": "100", "X-RateLimit-Remaining": "0"}
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_429"), status=429, headers=headers)
    rsps.add("GET", CONTACT_URL, json=api_fixture("contact"), status=200)

    client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    assert 2.0 <= clock.sleeps[0] <= 4.0


def test_non_idempotent_post_is_retried_on_429_and_503(client, rsps):
    rsps.add("POST", SEND_URL, json=api_fixture("error_429"), status=429, headers={"Retry-After": "1"})
    rsps.add("POST", SEND_URL, json=api_fixture("error_502"), status=503)
    rsps.add("POST", SEND_URL, json=api_fixture("send_message__sms"), status=200)

    assert client.conversations.send_sms("ocQHyuzHvysMo5N5VsXc", "hi")["messageId"]
    assert len(rsps.calls) == 3


@pytest.mark.parametrize("status", [502, 504])
def test_non_idempotent_post_is_not_retried_after_a_gateway_error(client, rsps, status):
    rsps.add("POST", SEND_URL, json=api_fixture("error_502"), status=status)

    with pytest.raises(GhlServerError):
        client.conversations.send_sms("ocQHyuzHvysMo5N5VsXc", "hi")

    assert len(rsps.calls) == 1


def test_non_idempotent_post_is_not_retried_after_a_read_timeout(client, rsps):
    rsps.add("POST", SEND_URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(GhlNetworkError) as info:
        client.conversations.send_sms("ocQHyuzHvysMo5N5VsXc", "hi")

    assert len(rsps.calls) == 1
    assert info.value.status is None
    assert_no_secret(info.value)


def test_non_idempotent_post_is_retried_when_the_request_never_left(client, rsps):
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    rsps.add("POST", SEND_URL, body=requests.ConnectTimeout("connect timed out"))
    rsps.add("POST", SEND_URL, body=requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", refused)))
    rsps.add("POST", SEND_URL, json=api_fixture("send_message__sms"), status=200)

    assert client.conversations.send_sms("ocQHyuzHvysMo5N5VsXc", "hi")["messageId"]
    assert len(rsps.calls) == 3


def test_idempotent_requests_are_retried_after_network_errors_then_give_up(client, rsps, retry_policy):
    for _ in range(retry_policy.max_attempts):
        rsps.add("GET", CONTACT_URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(GhlNetworkError) as info:
        client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    assert len(rsps.calls) == retry_policy.max_attempts
    assert info.value.path == "/contacts/ocQHyuzHvysMo5N5VsXc"
    assert isinstance(info.value.__cause__, requests.ReadTimeout)


def test_searches_and_upserts_are_retried_after_a_read_timeout(client, rsps):
    rsps.add("POST", f"{BASE_URL}/contacts/upsert", body=requests.ReadTimeout("read timed out"))
    rsps.add("POST", f"{BASE_URL}/contacts/upsert", json=api_fixture("contact_upsert"), status=200)

    assert client.contacts.upsert({"email": "ada@example.com"})["new"] is False


def test_every_call_carries_a_timeout(client, rsps):
    rsps.add("GET", CONTACT_URL, json=api_fixture("contact"), status=200)

    client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    assert rsps.calls[0].request.req_kwargs["timeout"] == client.http.timeout
    assert client.http.timeout == (5.0, 30.0)


def test_non_json_success_body_is_a_network_error(client, rsps):
    rsps.add("GET", CONTACT_URL, body="<html>proxy</html>", status=200)

    with pytest.raises(GhlNetworkError):
        client.contacts.get("ocQHyuzHvysMo5N5VsXc")


def test_logs_use_stable_keys_and_never_contain_the_token(client, rsps, caplog):
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_401"), status=401)
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_502"), status=503)
    rsps.add("GET", CONTACT_URL, json=api_fixture("error_404"), status=404)

    with caplog.at_level(logging.DEBUG, logger="ghl_integration"), pytest.raises(GhlNotFound):
        client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    messages = [r.getMessage() for r in caplog.records]
    assert {"ghl.client.request", "ghl.client.token-refresh", "ghl.client.retry", "ghl.client.error"} <= set(messages)
    for record in caplog.records:
        assert TOKEN not in str(record.__dict__) and FRESH_TOKEN not in str(record.__dict__)


def test_errors_survive_pickling_for_task_queues():
    import pickle

    exc = GhlValidationError(
        "dup", status=400, body=api_fixture("error_400_duplicate_contact"), request_id="r1", method="POST", path="/x"
    )
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.status, copy.request_id, copy.duplicate_contact_id) == (400, "r1", "ocQHyuzHvysMo5N5VsXc")
