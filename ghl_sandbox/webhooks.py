"""Webhook emission, signing and delivery, as GHL does it (REFERENCE.md §h).

Signing: Ed25519 over the exact body bytes in `x-ghl-signature` and RSA-SHA256 PKCS#1 v1.5 in
`x-wh-signature`, both base64. Delivery runs on one background thread fed by a time-ordered heap, so API
responses never wait for it and events of a location leave in emission order unless a fault reorders them.
Like GHL: only a 429 answer is retried (up to `max_retries` times, `retry_spacing_s` + jitter apart); a 5xx,
another status, a timeout or a connection error ends delivery of that event.
"""
import base64
import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from pathlib import Path

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from .errors import iso

logger = logging.getLogger(__name__)
DEV_KEYS_DIR = Path(__file__).parent / "dev_keys"


class Signer:
    def __init__(self, keys_dir: str | Path | None = None):
        keys_dir = Path(keys_dir or DEV_KEYS_DIR)
        self.ed25519 = serialization.load_pem_private_key((keys_dir / "ed25519_private.pem").read_bytes(), None)
        self.rsa = serialization.load_pem_private_key((keys_dir / "rsa_private.pem").read_bytes(), None)

    def headers(self, body: bytes) -> dict:
        return {
            "x-ghl-signature": base64.b64encode(self.ed25519.sign(body)).decode(),
            "x-wh-signature": base64.b64encode(self.rsa.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode(),
        }

    def public_pems(self) -> dict:
        fmt = serialization.PublicFormat.SubjectPublicKeyInfo
        return {
            "ed25519": self.ed25519.public_key().public_bytes(serialization.Encoding.PEM, fmt).decode(),
            "rsa": self.rsa.public_key().public_bytes(serialization.Encoding.PEM, fmt).decode(),
        }


class Dispatcher:
    """Emits events and delivers them from a background thread. `emit` never blocks on the network."""

    def __init__(self, store, config, faults, signer: Signer):
        self.store, self.config, self.faults, self.signer = store, config, faults, signer
        self.heap: list = []
        self.seq = itertools.count()
        self.cond = threading.Condition()
        self.in_flight = 0
        self.stopped = False
        self.session = requests.Session()
        self.session.trust_env = False  # never route deliveries through a proxy
        self.thread = threading.Thread(target=self._run, name="ghl-sandbox-webhooks", daemon=True)
        self.thread.start()

    # -- emission --------------------------------------------------------------------------------
    def emit(self, event_type: str, location_id: str | None, fields: dict, *, force: bool = False) -> dict | None:
        """Build the flat payload (`type`, fields, `timestamp`, `webhookId`) and queue it for every URL.

        Events of a location where the app is not installed are not sent (INSTALL/UNINSTALL pass `force`).
        """
        payload = {"type": event_type, **fields, "timestamp": iso(), "webhookId": str(uuid.uuid4())}
        if location_id is not None and "locationId" not in fields:
            payload = {"type": event_type, "locationId": location_id, **fields,
                       "timestamp": payload["timestamp"], "webhookId": payload["webhookId"]}
        if not force and location_id is not None:
            location = self.store.get("location", location_id)
            if location is None or not location.get("_installed", True):
                return None
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        for url in list(self.config["webhooks"]["urls"]):
            plan = self.faults.webhook_plan()
            job = {"url": url, "body": body, "type": event_type, "webhook_id": payload["webhookId"],
                   "location_id": location_id, "attempt": 1}
            if plan["drop"]:
                self.store.log_delivery(webhook_id=job["webhook_id"], type=event_type, location_id=location_id,
                                        url=url, status=None, attempt=0, outcome="dropped", error=None)
                continue
            due = time.monotonic() + plan["delay"]
            if plan["reorder"]:
                job["held"] = True
                due = time.monotonic() + float(self.config["webhooks"]["reorder_hold_s"])
            self._push(due, job)
            if plan["duplicate"]:
                self._push(due, dict(job, duplicate=True))
        return payload

    def _push(self, due: float, job: dict) -> None:
        with self.cond:
            heapq.heappush(self.heap, (due, next(self.seq), job))
            self.cond.notify_all()

    # -- delivery --------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.stopped and (not self.heap or self.heap[0][0] > time.monotonic()):
                    timeout = None if not self.heap else max(0.0, self.heap[0][0] - time.monotonic())
                    self.cond.wait(timeout)
                if self.stopped:
                    return
                _, _, job = heapq.heappop(self.heap)
                self.in_flight += 1
                # A held (reordered) event is released right after the next event of its location leaves.
                if not job.get("held"):
                    self._release_held(job["location_id"])
            try:
                self._deliver(job)
            except Exception:  # the delivery thread must survive anything
                logger.exception("ghl.sandbox.webhook-delivery-crashed")
            finally:
                with self.cond:
                    self.in_flight -= 1
                    self.cond.notify_all()

    def _release_held(self, location_id) -> None:
        now = time.monotonic()
        changed = False
        for i, (due, seq, job) in enumerate(self.heap):
            if job.get("held") and job["location_id"] == location_id and due > now:
                job["held"] = False
                self.heap[i] = (now, seq, job)
                changed = True
        if changed:
            heapq.heapify(self.heap)

    def _deliver(self, job: dict) -> None:
        headers = {"Content-Type": "application/json", **self.signer.headers(job["body"])}
        settings = self.config["webhooks"]
        status, error = None, None
        try:
            resp = self.session.post(job["url"], data=job["body"], headers=headers,
                                     timeout=float(settings["timeout_s"]))
            status = resp.status_code
        except requests.Timeout:
            error = "timeout"
        except requests.RequestException as exc:
            error = type(exc).__name__
        # Only 429 is retried, like GHL; 5xx and timeouts are permanent failures.
        if status == 429 and job["attempt"] <= int(settings["max_retries"]):
            outcome = "retry_scheduled"
        elif status is not None and 200 <= status < 300:
            outcome = "delivered"
        else:
            outcome = "failed"
        self.store.log_delivery(webhook_id=job["webhook_id"], type=job["type"], location_id=job["location_id"],
                                url=job["url"], status=status, attempt=job["attempt"], outcome=outcome, error=error)
        if outcome == "retry_scheduled":
            spacing = float(settings["retry_spacing_s"]) + self.faults.jitter(float(settings["retry_jitter_s"]))
            self._push(time.monotonic() + spacing, dict(job, attempt=job["attempt"] + 1, held=False))

    # -- control ---------------------------------------------------------------------------------
    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or in flight (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.heap or self.in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(min(remaining, 0.05))
        return True

    def pending(self) -> int:
        with self.cond:
            return len(self.heap) + self.in_flight

    def clear(self) -> None:
        with self.cond:
            self.heap.clear()
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
