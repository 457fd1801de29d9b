"""Property test: thousands of malformed bodies and headers, signed or not. Never a 5xx, never an exception,
and every event that was acknowledged as stored reaches a final status in the worker."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ghl_integration.models import WebhookEvent

from .conftest import WEBHOOK_URL, example_files, sign_ed25519, sign_rsa

pytestmark = pytest.mark.django_db

EXAMPLE_PAYLOADS = [json.loads(p.read_text()) for p in example_files()]
EVENT_TYPES = sorted({p.get("type") for p in EXAMPLE_PAYLOADS if isinstance(p.get("type"), str)})
MAX_BODY = 64 * 1024

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=15,
)
timestamps = st.one_of(
    st.sampled_from(["now", "late", "stale", "future", "missing"]),
    st.text(max_size=30),
    st.integers(),
    st.floats(),
    json_values,
)
ghl_like = st.fixed_dictionaries(
    {"timestamp": timestamps},
    optional={
        "type": st.one_of(st.sampled_from(EVENT_TYPES), st.text(max_size=80), json_values),
        "webhookId": st.one_of(st.uuids().map(str), st.text(max_size=300), json_values),
        "locationId": st.one_of(st.just("Lc9XwR2mT7pQa4VbN8sK"), st.text(max_size=100), json_values),
        "companyId": st.one_of(st.text(max_size=100), json_values),
        "altType": st.one_of(st.just("location"), json_values),
        "altId": json_values,
        "messageId": json_values,
        "_id": json_values,
        "product": json_values,
        "currency": json_values,
        "id": json_values,
        "appointment": json_values,
    },
)
mutated_example = st.tuples(
    st.sampled_from(EXAMPLE_PAYLOADS), st.dictionaries(st.text(max_size=12), json_values, max_size=3)
)


def _materialise(payload):
    """Replace the symbolic timestamps by real ones, relative to now."""
    if not isinstance(payload, dict):
        return payload
    payload = dict(payload)
    now = timezone.now()
    choice = payload.get("timestamp")
    offsets = {
        "now": timedelta(0),
        "late": -timedelta(minutes=70),
        "stale": -timedelta(hours=2),
        "future": timedelta(hours=1),
    }
    if choice == "missing":
        payload.pop("timestamp")
    elif isinstance(choice, str) and choice in offsets:
        payload["timestamp"] = (now + offsets[choice]).isoformat()
    return payload


def _dump(payload, ascii_only: bool) -> bytes:
    return json.dumps(payload, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


bodies = st.one_of(
    st.binary(max_size=500),
    st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.tuples(json_values, st.booleans()).map(lambda v: _dump(v[0], v[1])),
    st.tuples(ghl_like, st.booleans()).map(lambda v: _dump(_materialise(v[0]), v[1])),
    st.tuples(mutated_example, st.booleans()).map(
        lambda v: _dump(_materialise({**v[0][0], "timestamp": "now", **v[0][1]}), v[1])
    ),
    st.integers(min_value=1, max_value=3 * MAX_BODY).map(lambda n: b'{"type":"ContactCreate","x":"' + b"a" * n + b'"}'),
    st.integers(min_value=1, max_value=20000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from(
        [b"", b"null", b"{}", b"[]", b"0", b'"x"', b"NaN", b"\x00", b'{"type":"\\u0000"}', b"\xef\xbb\xbf{}"]
    ),
)
signature_modes = st.sampled_from(
    ["none", "ed25519", "ed25519", "rsa", "both", "garbage", "random-b64", "other-body", "empty"]
)
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=200)


def _signature_headers(mode: str, body: bytes, noise: str, noise_bytes: bytes) -> dict:
    if mode == "ed25519":
        return {"HTTP_X_GHL_SIGNATURE": sign_ed25519(body)}
    if mode == "rsa":
        return {"HTTP_X_WH_SIGNATURE": sign_rsa(body)}
    if mode == "both":
        return {"HTTP_X_GHL_SIGNATURE": sign_ed25519(body), "HTTP_X_WH_SIGNATURE": sign_rsa(body)}
    if mode == "garbage":
        return {"HTTP_X_GHL_SIGNATURE": noise, "HTTP_X_WH_SIGNATURE": noise}
    if mode == "random-b64":
        return {"HTTP_X_GHL_SIGNATURE": base64.b64encode(noise_bytes).decode()}
    if mode == "other-body":
        return {"HTTP_X_GHL_SIGNATURE": sign_ed25519(body + b" "), "HTTP_X_WH_SIGNATURE": sign_rsa(b"x" + body)}
    if mode == "empty":
        return {"HTTP_X_GHL_SIGNATURE": "", "HTTP_X_WH_SIGNATURE": ""}
    return {}


@hsettings(
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    body=bodies,
    mode=signature_modes,
    noise=header_text,
    noise_bytes=st.binary(min_size=0, max_size=600),
    content_type=st.one_of(
        st.sampled_from(
            ["application/json", "text/plain", "", "application/json; charset=latin-1", "multipart/form-data"]
        ),
        header_text,
    ),
    extra_headers=st.dictionaries(
        st.sampled_from(
            ["HTTP_ACCEPT", "HTTP_USER_AGENT", "HTTP_X_REQUEST_ID", "HTTP_X_FORWARDED_FOR", "HTTP_ACCEPT_ENCODING"]
        ),
        header_text,
        max_size=3,
    ),
    slash=st.booleans(),
)
def test_malformed_input_never_gives_a_5xx(
    client, settings, broker, body, mode, noise, noise_bytes, content_type, extra_headers, slash
):
    if settings.GHL_WEBHOOK_MAX_BODY_BYTES != MAX_BODY:
        # Once per test, not per example: every assignment stacks one more override layer.
        settings.GHL_WEBHOOK_MAX_BODY_BYTES = MAX_BODY
    headers = {**extra_headers, **_signature_headers(mode, body, noise, noise_bytes)}
    url = WEBHOOK_URL if slash else WEBHOOK_URL.rstrip("/")

    with broker.capture_on_commit(execute=True):
        # The real Content-Type goes in CONTENT_TYPE: the test client would otherwise re-encode the bytes.
        response = client.post(
            url, data=body, content_type="application/octet-stream", CONTENT_TYPE=content_type, **headers
        )

    assert response.status_code < 500, response.content
    event(f"status={response.status_code}")  # --hypothesis-show-statistics: how often each path was hit
    assert response["Content-Type"] == "application/json"
    answer = json.loads(response.content)
    assert isinstance(answer, dict)
    if response.status_code == 200:
        assert answer["status"] in ("accepted", "duplicate")
    if mode == "none" or mode == "garbage" or mode == "empty" or mode == "random-b64":
        assert response.status_code in (401, 413)

    # Whatever was stored reaches a final status in the worker, without an exception.
    broker.run_all()
    assert not WebhookEvent.objects.filter(status__in=("received", "processing")).exists()
