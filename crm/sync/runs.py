"""The sync log: one `SyncRun` per job run, advanced page by page, resumable from its cursor."""
from typing import Any

from django.db.models import F
from django.utils import timezone

from tenancy.models import Organization

from .models import SyncRun


def sync_run_start(
    *,
    organization: Organization,
    provider: str,
    account_id: str,
    kind: str,
    connection_id: int | None = None,
    object_type: str = "contact",
    total: int | None = None,
    resume: bool = False,
) -> SyncRun:
    """Start a run. With ``resume=True`` an unfinished run of the same kind is returned instead (its
    ``cursor`` says where to continue), so a pull that crashed picks up where it stopped."""
    if resume:
        previous = sync_run_resumable(organization=organization, provider=provider, account_id=account_id,
                                      kind=kind, object_type=object_type)
        if previous is not None:
            previous.status = SyncRun.Status.RUNNING
            previous.heartbeat_at = timezone.now()
            previous.error = ""
            previous.save(update_fields=["status", "heartbeat_at", "error"])
            return previous
    return SyncRun.objects.create(
        organization=organization, provider=provider, account_id=str(account_id), kind=kind,
        connection_id=connection_id, object_type=object_type, progress_total=total,
    )


def sync_run_resumable(*, organization: Organization, provider: str, account_id: str, kind: str,
                       object_type: str = "contact") -> SyncRun | None:
    """The latest run of this kind if it did not finish successfully (running, failed or cancelled)."""
    latest = (
        SyncRun.objects.for_org(organization)
        .filter(provider=provider, account_id=account_id, kind=kind, object_type=object_type)
        .order_by("-started_at", "-id")
        .first()
    )
    if latest is None or latest.status == SyncRun.Status.SUCCEEDED:
        return None
    return latest


REFUSAL_SAMPLES = 50


def sync_run_advance(
    *,
    run: SyncRun,
    counts: dict[str, int] | None = None,
    done: int = 0,
    total: int | None = None,
    cursor: Any = None,
    refusals: dict[str, str] | None = None,
) -> SyncRun:
    """Add ``counts`` (keys of `SyncRun.COUNT_FIELDS`, e.g. a `PageResult.counts`) and ``done`` atomically
    and store the ``cursor`` of the next page. Call it in the same transaction as the page's writes when
    possible, so the cursor never runs ahead of the data. ``refusals`` (external id → error, a
    `PageResult.errors`) are counted, and the first `REFUSAL_SAMPLES` kept on the run; one thread advances
    a run at a time, so the in-memory list is the stored one."""
    updates: dict[str, Any] = {
        name: F(name) + value for name, value in (counts or {}).items() if name in SyncRun.COUNT_FIELDS and value
    }
    if done:
        updates["progress_done"] = F("progress_done") + done
    if total is not None:
        updates["progress_total"] = total
    if cursor is not None:
        updates["cursor"] = cursor
    if refusals:
        updates["refused"] = F("refused") + len(refusals)
        room = REFUSAL_SAMPLES - len(run.refusal_samples or [])
        if room > 0:
            updates["refusal_samples"] = list(run.refusal_samples or []) + [
                {"external_id": external_id, "error": error[:500]}
                for external_id, error in list(refusals.items())[:room]
            ]
    updates["heartbeat_at"] = timezone.now()
    # One UPDATE is atomic on its own (and joins the caller's transaction, if any); no BEGIN/COMMIT of ours.
    SyncRun.objects.filter(pk=run.pk).update(**updates)
    run.refresh_from_db()
    return run


def sync_run_finish(*, run: SyncRun, status: str = SyncRun.Status.SUCCEEDED, error: str = "") -> SyncRun:
    run.status = status
    run.error = str(error)[:4000]
    run.finished_at = timezone.now()
    run.heartbeat_at = run.finished_at
    run.save(update_fields=["status", "error", "finished_at", "heartbeat_at"])
    return run
