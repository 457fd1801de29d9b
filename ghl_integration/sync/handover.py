"""Time-bounded sync jobs that hand over what is left (#19): one `SyncRun` continued by successive tasks.

A job out of its time budget leaves its run ``running`` with a cursor (where to continue, and ``phase``) and a
handover number, and its task queues one follow-up carrying `Handover(run_id, number)`. Whoever next holds the
location's job lock continues that run: the follow-up, or a fresh run of the job (the beat's, or one after a
dead worker) that finds it unfinished. A follow-up whose number is no longer the run's (someone continued it
already, or the broker delivered it twice) does nothing. Callers hold the job's `one_per_location` lock.
"""
import logging
import time
from dataclasses import dataclass

from crm.sync.models import SyncRun
from crm.sync.runs import sync_run_advance, sync_run_finish

from ..models import GhlConnection
from .targets import PROVIDER

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handover:
    """What a follow-up task needs to continue a run that ran out of time: the run and its handover number."""

    run_id: int
    number: int


def unfinished_run(connection: GhlConnection, kind: str, *, object_type: str = "contact") -> SyncRun | None:
    """The location's latest run of ``kind`` if it was left ``running`` (handed over, or its worker died); the
    caller holds the job's lock, so nobody else is running it. One left without a resumable cursor (a worker
    that died before the job kept one) is closed as failed."""
    run = SyncRun.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type=object_type, kind=kind,
    ).order_by("-started_at", "-id").first()
    if run is None or run.status != SyncRun.Status.RUNNING:
        return None
    if not (run.cursor or {}).get("phase"):
        sync_run_finish(run=run, status=SyncRun.Status.FAILED, error="its worker stopped; not resumable")
        return None
    return run


def claim_run(connection: GhlConnection, kind: str, handover: Handover | None, *,
              object_type: str = "contact") -> tuple[SyncRun | None, bool]:
    """(the unfinished run to continue, or None; superseded): a follow-up continues only its own handover."""
    run = unfinished_run(connection, kind, object_type=object_type)
    if handover is None:
        return run, False
    if run is None or run.pk != handover.run_id or (run.cursor or {}).get("handover") != handover.number:
        logger.info("ghl.sync.handover-superseded", extra={"connection_id": connection.pk, "kind": kind,
                                                            "object_type": object_type, "run_id": handover.run_id})
        return None, True
    return run, False


def hand_over(run: SyncRun, cursor: dict) -> tuple[SyncRun, Handover]:
    """Store ``cursor`` with the next handover number; the run stays running."""
    number = int((run.cursor or {}).get("handover", 0)) + 1
    run = sync_run_advance(run=run, cursor={**cursor, "handover": number})
    logger.info("ghl.sync.handed-over", extra={"run_id": run.pk, "kind": run.kind, "object_type": run.object_type,
                                                "phase": cursor.get("phase"), "handover": number})
    return run, Handover(run.pk, number)


def deadline_after(budget_seconds: float | None) -> float:
    """A `time.monotonic` deadline; None: no bound (an operator's command waits for the end)."""
    return float("inf") if budget_seconds is None else time.monotonic() + budget_seconds
