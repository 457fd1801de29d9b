"""Runtime configuration of a sandbox: defaults, persisted in the store, changed through the control API."""
import copy
import threading

from . import constants as c

DEFAULT_CONFIG: dict = {
    "token_ttl": c.DEFAULT_TOKEN_TTL,
    # strict: a missing or wrong Version header -> 400; lenient: only a wrong one; off: never checked.
    "version_check": "strict",
    # GET /conversations/{id}/messages: wrapped `{messages: {lastMessageId, nextPage, messages}}` (spec-2025, the
    # default) or the flat 2026-spec form [gap §i.3].
    "messages_flat": False,
    # Outbound messages sent through the API: 0 leaves them `delivered` at once (the long-standing behaviour);
    # > 0 starts them `pending` and moves them to `sent`, then `delivered`, that many seconds apart (emails also
    # emit LCEmailStats). `fail` (a share 0..1, under faults.messages) ends some in `failed` instead.
    "messages": {"status_step_s": 0.0, "whatsapp_window_h": 24},
    "rate_limit": {"enabled": True, "max": c.RATE_LIMIT_MAX, "interval_ms": c.RATE_LIMIT_INTERVAL_MS,
                   "daily": c.RATE_LIMIT_DAILY},
    "webhooks": {
        "urls": [],
        "max_retries": c.WEBHOOK_MAX_RETRIES,
        "retry_spacing_s": c.WEBHOOK_RETRY_SPACING_S,
        "retry_jitter_s": 60.0,
        "timeout_s": c.WEBHOOK_TIMEOUT_S,
        # Whether a specific change (stage, status, tags...) also emits the generic *Update event [gap §j.11].
        "emit_generic_update": True,
        "reorder_hold_s": 2.0,
    },
    "faults": {
        "seed": None,
        "webhook": {"drop": 0.0, "duplicate": 0.0, "delay": 0.0, "delay_s": 1.0, "reorder": 0.0},
        "api": {"http_429": 0.0, "http_5xx": 0.0, "status_5xx": [500, 502, 503], "latency_ms": 0,
                "latency_jitter_ms": 0,
                # Wait between validating an appointment's slot and saving it: GHL holds no slot, so racing
                # creates can both pass validation; this widens that window so tests can provoke it.
                "booking_race_ms": 0},
        "messages": {"fail": 0.0, "fail_reason": "Carrier rejected the message (30007)"},
    },
    # Exact redirect URIs registered in addition to any http://127.0.0.1:* / http://localhost:* URL.
    "redirect_uris": [],
    "allow_loopback_redirects": True,
    "clients": {c.SANDBOX_CLIENT_ID: {"secret": c.SANDBOX_CLIENT_SECRET, "redirect_uris": []}},
}


def deep_merge(base: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value
    return base


class Config:
    """The live config dict; every change is written back to the store so it survives a restart."""

    def __init__(self, store):
        self.store = store
        self.lock = threading.RLock()
        self.data = deep_merge(copy.deepcopy(DEFAULT_CONFIG), store.kv_get("config", {}))

    def __getitem__(self, key):
        with self.lock:
            return self.data[key]

    def snapshot(self) -> dict:
        with self.lock:
            return copy.deepcopy(self.data)

    def update(self, patch: dict) -> dict:
        with self.lock:
            deep_merge(self.data, copy.deepcopy(patch))
            self.store.kv_set("config", self.data)
            return copy.deepcopy(self.data)

    def reset(self) -> None:
        with self.lock:
            self.data = copy.deepcopy(DEFAULT_CONFIG)
            self.store.kv_set("config", self.data)
