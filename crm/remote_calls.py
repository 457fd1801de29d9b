"""What a piece of work asked of a remote CRM, as `crm` sees it (it knows no provider).

* `remote_calls_collected()` gathers the request ids a provider's client notes with `remote_call_noted(...)`
  while the block runs (a contextvar, so it follows the work without being passed). The agents' dispatcher
  wraps each tool call in it and keeps the ids in its audit row; a push worker wraps each outbox entry's push.
  Blocks nest: an id noted inside both (a push run inline inside a tool call) reaches both lists.
* `remote_calls_within(seconds)` bounds the time the remote requests of a block may take in all (a tool call
  someone waits for); `remote_time_left()` is what a provider's client reads.
* `RemoteUnavailable` is what a provider raises when the remote could not answer (network, timeouts, 5xx or
  429 after the client's own retries): a caller may retry later; nothing was changed by the failed request.
"""
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_collected: ContextVar[tuple[list[str], ...]] = ContextVar("crm_remote_calls_collected", default=())
MAX_COLLECTED = 50  # a pull inside a tool call must not grow one audit row without bound


class RemoteUnavailable(Exception):
    """The remote could not answer. `provider_name` is for people ("GoHighLevel"); `retry_after` in seconds."""

    provider_name = "the remote CRM"
    retry_after: float | None = None


@contextmanager
def remote_calls_collected() -> Iterator[list[str]]:
    ids: list[str] = []
    token = _collected.set((*_collected.get(), ids))
    try:
        yield ids
    finally:
        _collected.reset(token)


def remote_call_noted(*, request_id: str | None) -> None:
    """Called by a provider's client for every response it got (success or error) that carried an id."""
    if not request_id:
        return
    for ids in _collected.get():
        if len(ids) < MAX_COLLECTED and request_id not in ids:
            ids.append(request_id)


_deadline: ContextVar[float | None] = ContextVar("crm_remote_calls_deadline", default=None)


@contextmanager
def remote_calls_within(seconds: float | None) -> Iterator[None]:
    """Bound the remote requests made inside the block to `seconds` in all (None: no bound, e.g. a worker).

    Someone waits for the answer (an agent's tool call): a provider's client sends no retry that would end after
    the bound, caps the time it waits for a safe-to-repeat request to the time left, and raises its
    `RemoteUnavailable` at once when none is left. It never cuts short a request that may not be repeated (a
    send, a create): its answer decides what happened."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def remote_time_left() -> float | None:
    """Seconds left of the innermost `remote_calls_within` bound, or None when unbounded."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
