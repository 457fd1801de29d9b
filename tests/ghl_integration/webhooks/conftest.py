"""Fixtures for the webhook inbox tests: signing with the sandbox dev keys, delivering, a recording broker."""

import base64
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings
from django.utils import timezone

from tests.fixtures.ghl import webhook_files, webhook_payload

REPO_DIR = Path(settings.BASE_DIR)
DEV_KEYS_DIR = REPO_DIR / "ghl_sandbox" / "dev_keys"
WEBHOOK_URL = "/webhooks/ghl/"
LOCATION_ID = "Lc9XwR2mT7pQa4VbN8sK"


def example_files() -> list[Path]:
    return webhook_files()


def load_example(name: str) -> dict:
    return webhook_payload(name)


def _private_key(name: str):
    return load_pem_private_key((DEV_KEYS_DIR / name).read_bytes(), password=None)


ED25519_KEY = _private_key("ed25519_private.pem")
RSA_KEY = _private_key("rsa_private.pem")


def sign_ed25519(body: bytes) -> str:
    return base64.b64encode(ED25519_KEY.sign(body)).decode()


def sign_rsa(body: bytes) -> str:
    return base64.b64encode(RSA_KEY.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def compact(payload) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def fresh(payload: dict, **overrides) -> dict:
    """The payload with a current `timestamp` and a new `webhookId` (the examples date from March 2026)."""
    payload = dict(payload)
    payload["timestamp"] = timezone.now().isoformat().replace("+00:00", "Z")
    payload["webhookId"] = str(uuid.uuid4())
    payload.update(overrides)
    return payload


def signed_headers(body: bytes, algorithm: str = "ed25519") -> dict:
    if algorithm == "ed25519":
        return {"HTTP_X_GHL_SIGNATURE": sign_ed25519(body)}
    if algorithm == "rsa":
        return {"HTTP_X_WH_SIGNATURE": sign_rsa(body)}
    if algorithm == "both":
        return {"HTTP_X_GHL_SIGNATURE": sign_ed25519(body), "HTTP_X_WH_SIGNATURE": sign_rsa(body)}
    return {}


@dataclass
class RecordingBroker:
    """Stands in for Celery: records the drain requests and the single-event messages (`apply_async` calls);
    `run_all()` executes them like a worker would."""

    capture_on_commit: object = None
    sent: list = field(default_factory=list)  # single-event messages: (event_id, countdown)
    drains: list = field(default_factory=list)  # drain requests: countdown

    def run(self, event_id: int) -> str:
        """Run the single-event task body once, as a worker would; what it queues on commit is recorded."""
        from ghl_integration.webhooks.tasks import process_webhook_event_task

        with self.capture_on_commit(execute=True):
            return process_webhook_event_task.run(event_id)

    def drain(self) -> list[str]:
        """Run one drain, as a worker would; returns the outcome of every event it claimed."""
        from ghl_integration.webhooks.processing import webhook_inbox_drain

        self.drains.clear()
        with self.capture_on_commit(execute=True):
            return webhook_inbox_drain().statuses

    def apply_async(self, args, countdown=None, **kwargs):
        self.sent.append((args[0], countdown))

    def request_drain(self, args=None, countdown=None, **kwargs):
        self.drains.append(countdown)

    def run_all(self, max_rounds: int = 50) -> list:
        results = []
        for _ in range(max_rounds):
            if not self.sent and not self.drains:
                break
            if self.drains:
                results.extend(self.drain())
            batch, self.sent = self.sent, []
            for event_id, _countdown in batch:
                results.append(self.run(event_id))
        return results

    @property
    def ids(self) -> list:
        return [event_id for event_id, _ in self.sent]


@pytest.fixture
def broker(django_capture_on_commit_callbacks):
    from ghl_integration.webhooks.tasks import drain_webhook_inbox_task, process_webhook_event_task

    recorder = RecordingBroker(capture_on_commit=django_capture_on_commit_callbacks)
    with (
        mock.patch.object(process_webhook_event_task, "apply_async", side_effect=recorder.apply_async),
        mock.patch.object(drain_webhook_inbox_task, "apply_async", side_effect=recorder.request_drain),
    ):
        yield recorder


@pytest.fixture(autouse=True)
def spool_dir(settings, tmp_path):
    settings.GHL_WEBHOOK_SPOOL_DIR = str(tmp_path / "spool")
    return tmp_path / "spool"


@pytest.fixture
def deliver(client, broker, django_capture_on_commit_callbacks):
    """POST a body to the endpoint; on-commit callbacks run (so the broker sees what was queued)."""

    def post(body: bytes | str, *, algorithm: str = "ed25519", content_type="application/json", **extra):
        raw = body.encode() if isinstance(body, str) else body
        headers = {**signed_headers(raw, algorithm), **extra}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(WEBHOOK_URL, data=raw, content_type=content_type, **headers)

    return post


@pytest.fixture
def deliver_payload(deliver):
    def post(payload: dict, *, algorithm: str = "ed25519", **extra):
        return deliver(compact(payload), algorithm=algorithm, **extra)

    return post


@pytest.fixture
def active_connection(org_factory):
    from ghl_integration.models import GhlConnection
    from tests.factories import GhlConnectionFactory

    def make(location_id: str = LOCATION_ID, status=GhlConnection.Status.ACTIVE, **fields):
        return GhlConnectionFactory(
            organization=fields.pop("organization", None) or org_factory(),
            location_id=location_id,
            status=status,
            **fields,
        )

    return make


@pytest.fixture
def register_handler():
    """Temporarily route an event type to a test handler."""
    from ghl_integration.webhooks import dispatch

    patches = []

    def register(event_type: str, handler):
        patcher = mock.patch.dict(dispatch.EVENT_HANDLERS, {event_type: handler})
        patcher.start()
        patches.append(patcher)
        return handler

    yield register
    for patcher in reversed(patches):
        patcher.stop()
