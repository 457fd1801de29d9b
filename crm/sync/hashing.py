"""Canonical values and content hashes shared by push (outbox) and apply (inbound).

A hash is taken over values in *local* terms (the output of `Mapping.to_local`, keyed by local field
name, custom properties as ``custom_properties.<key>``), so the hash of what we pushed and the hash of
the webhook that echoes it back are equal.
"""
import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

SET_LIKE_FIELDS = frozenset({"tags", "additional_emails", "additional_phones"})


# Types `canonical` returns unchanged (exact types: a str or int subclass takes the long way).
CANONICAL_AS_IS = frozenset({str, bool, int, type(None)})


def canonical(value: Any) -> Any:
    """A JSON-able form used for comparison, snapshots and hashing (dates as ISO strings)."""
    if type(value) in CANONICAL_AS_IS:  # most values; a page of contacts calls this thousands of times
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, tuple):
        return [canonical(v) for v in value]
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    return value


def values_equal(field: str, a: Any, b: Any) -> bool:
    a, b = canonical(a), canonical(b)
    if field in SET_LIKE_FIELDS and isinstance(a, list) and isinstance(b, list):
        return set(map(str, a)) == set(map(str, b))
    if a in (None, "") and b in (None, ""):
        return True
    return a == b


# `json.dumps` with arguments builds a new encoder on every call; a page hashes a hundred records.
_HASH_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def content_hash(values: dict[str, Any]) -> str:
    """sha256 over the canonical values; set-like fields are order-insensitive."""
    norm = {}
    for key, value in values.items():
        if type(value) not in CANONICAL_AS_IS:  # inlined: a page hashes thousands of values
            value = canonical(value)
            if key in SET_LIKE_FIELDS and isinstance(value, list):
                value = sorted(map(str, value))
        elif value is None:
            value = ""
        norm[key] = value
    return hashlib.sha256(_HASH_ENCODER.encode(norm).encode()).hexdigest()
