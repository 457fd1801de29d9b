"""Signed HTTPS callbacks to an organization's own agent runtime.

Signature (Stripe's recipe): header `AgentLevel-Signature: t=<unix seconds>,v1=<hex>` where
`v1 = HMAC-SHA256(key=the trigger's secret, msg=f"{t}." + raw body)`. The receiver recomputes it over the raw
body, compares in constant time and rejects a `t` older than a few minutes (replays). `verify_signature` is that
recipe, for our tests and for receivers written in Python.
"""
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests

SIGNATURE_HEADER = "AgentLevel-Signature"
DELIVERY_HEADER = "AgentLevel-Delivery"
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 5, 15
# Retried with backoff for a day: 30 s, 1 min, 2 min, … capped at an hour between attempts.
RETRY_BASE_S, RETRY_MAX_S = 30, 3600
GIVE_UP_AFTER = timedelta(days=1)
RETRYABLE_STATUSES = {408, 425, 429}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def url_problem(url: str) -> str | None:
    """Why `url` cannot receive callbacks, or None. HTTPS only (plain HTTP to this machine, for development)."""
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None
    return "The callback URL must be https://… (plain http only to 127.0.0.1/localhost, for development)."


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance_s: int = 300) -> bool:
    """The documented recipe: parse `t` and `v1`, recompute, compare in constant time, reject old timestamps."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


@dataclass
class Attempt:
    ok: bool
    retryable: bool
    status_code: int | None
    error: str


def deliver(*, url: str, secret: str, delivery_id: str, payload: dict) -> Attempt:
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
               DELIVERY_HEADER: delivery_id, "User-Agent": "AgentLevel-Callbacks/1"}
    try:
        response = requests.post(url, data=body, headers=headers, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                                 allow_redirects=False)
    except requests.Timeout:
        return Attempt(False, True, None, f"no answer within {READ_TIMEOUT_S} s")
    except requests.RequestException as exc:
        return Attempt(False, True, None, f"could not connect ({type(exc).__name__})")
    if 200 <= response.status_code < 300:
        return Attempt(True, False, response.status_code, "")
    retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES
    return Attempt(False, retryable, response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(RETRY_MAX_S, RETRY_BASE_S * 2 ** max(0, attempts - 1)))
