"""What a piece of work asked of a remote CRM, as `crm` sees it (it knows no provider).

* `remote_calls_collected()` gathers the request ids a provider's client notes with `remote_call_noted(...)`
  while the block runs (a contextvar, so it follows the work without being passed). The agents' dispatcher
  wraps each tool call in it and keeps the ids in its audit row; a push worker wraps each outbox entry's push.
  Blocks nest: an id noted inside both (a push run inline inside a tool call) reaches both lists.
* `RemoteUnavailable` is what a provider raises when the remote could not answer (network, timeouts, 5xx or
  429 after the client's own retries): a caller may retry later; nothing was changed by the failed request.
"""
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
