"""How the inbox spends its workers: retries, leases, batches, the drain's doorbell.

These are tuning, not configuration: the defaults are production's and no operator sets them. The services read
the module's `INBOX` and `DOORBELL` when they run; a test that needs other values replaces them
(``monkeypatch.setattr(tuning, "INBOX", InboxTuning(max_attempts=2))``) or passes arguments where a service
takes them.
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class InboxTuning:
    #: Processing attempts before an event is "dead", and the exponential backoff between them.
    max_attempts: int = 8
    retry_base_seconds: float = 30
    retry_max_seconds: float = 3600
    #: An event still "received" (or whose retry is overdue) this long after it was queued is queued again.
    requeue_after_seconds: float = 300
    #: A worker's claim on an event expires after this long (the worker is presumed dead, or the database went
    #: away under it), so a stranded batch is claimable again within seconds of the database coming back. A
    #: drain renews the claim on the rest of its batch every third of it while it works.
    lease_seconds: float = 30
    #: The drain claims this many events at a time, and works at most this long before handing over to a fresh
    #: task (so other tasks get the worker too).
    drain_batch: int = 100
    drain_max_seconds: float = 20.0


@dataclass(frozen=True)
class DoorbellTuning:
    #: One broker message per drain instead of per event, through a flag web and workers share. None: on when
    #: Redis is configured (`REDIS_URL`), since an in-process cache is shared by nobody.
    debounce: bool | None = None
    #: A ring within the burst window after a drain started is a burst: its drain starts the delay later, so the
    #: burst is claimed in batches rather than by one drain every few events (each drain has a fixed cost).
    delay_seconds: float = 0.2
    burst_window_seconds: float = 0.1
    #: The "drain queued" flag expires after this long, in case its broker message was lost.
    flag_ttl_seconds: int = 30
    #: A web process rings for the rows it committed at most this often (doorbell.BellRinger): the first ring
    #: after a quiet spell goes at once, the rings of a burst are coalesced.
    ring_interval_seconds: float = 0.05

    @property
    def debounced(self) -> bool:
        return bool(settings.REDIS_URL) if self.debounce is None else self.debounce


INBOX = InboxTuning()
DOORBELL = DoorbellTuning()
