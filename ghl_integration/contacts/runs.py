"""GHL-side helpers around `crm.sync.runs` (which holds the sync log itself)."""
import datetime as dt

from django.utils import timezone

from crm.sync.models import SyncRun
from crm.sync.runs import sync_run_resumable

from ..models import GhlConnection
from ..sync.exclusive import location_job_busy
from .mapping import PROVIDER


def sync_run_reset_progress(*, run: SyncRun) -> SyncRun:
    """A resumed run that starts over from the first page counts its progress from zero again."""
    SyncRun.objects.filter(pk=run.pk).update(progress_done=0)
    run.refresh_from_db()
    return run


def contacts_reconcile_since(*, connection: GhlConnection) -> dt.datetime | None:
    """Where the next reconciliation starts: the last successful reconciliation's cursor, else the start of
    the last successful initial pull (everything GHL changed after it), else None (never pulled)."""
    runs = SyncRun.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type="contact",
        status=SyncRun.Status.SUCCEEDED)
    last = runs.filter(kind=SyncRun.Kind.RECONCILE).exclude(cursor=None).order_by("-started_at", "-id").first()
    if last is not None and (last.cursor or {}).get("since"):
        return dt.datetime.fromisoformat(last.cursor["since"])
    pull = runs.filter(kind=SyncRun.Kind.INITIAL_PULL).order_by("-started_at", "-id").first()
    return pull.started_at if pull is not None else None


def pull_unfinished_since(*, connection: GhlConnection, since: dt.datetime) -> bool:
    """Is the location's latest pull unfinished (running, failed or cancelled) and started at or after
    ``since``? Then it is the run a pull requested at ``since`` started itself."""
    run = sync_run_resumable(organization=connection.organization, provider=PROVIDER,
                             account_id=connection.location_id, kind=SyncRun.Kind.INITIAL_PULL)
    return run is not None and run.started_at >= since


def pull_served_since(*, connection: GhlConnection, since: dt.datetime) -> bool:
    """Did the location's latest pull succeed at or after ``since``? Then a request made at ``since`` (a fresh
    pull, or the resumption of one) has been served: a late redelivery of its message must not pull again."""
    run = SyncRun.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type="contact",
        kind=SyncRun.Kind.INITIAL_PULL).order_by("-started_at", "-id").first()
    return (run is not None and run.status == SyncRun.Status.SUCCEEDED and run.finished_at is not None
            and run.finished_at >= since)


# A running pull beats its heart every `pull.HEARTBEAT_SECONDS` (5 s) whatever it waits for; a run silent this
# long whose lock nobody holds lost its worker. With the 15-second orphan sweep a dead pull resumes within ~35 s.
PULL_ORPHANED_AFTER = dt.timedelta(seconds=20)


def pull_orphaned(*, connection: GhlConnection) -> SyncRun | None:
    """The location's latest pull if its worker died mid-pull: still marked running, silent for
    `PULL_ORPHANED_AFTER`, and no job holds the location's pull lock. (A pull that fails or is cancelled is
    marked so; only a killed worker leaves a run running.)"""
    run = sync_run_current_pull(connection=connection)
    if run is None or run.status != SyncRun.Status.RUNNING:
        return None
    if run.heartbeat_at > timezone.now() - PULL_ORPHANED_AFTER:
        return None
    if location_job_busy(connection, SyncRun.Kind.INITIAL_PULL):
        return None
    return run


def sync_runs_recent(*, connection: GhlConnection, limit: int = 8) -> list[SyncRun]:
    """The connection's latest contact sync runs, newest first (settings page, admin)."""
    return list(SyncRun.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type="contact",
    ).order_by("-started_at", "-id")[:limit])


def sync_run_current_pull(*, connection: GhlConnection) -> SyncRun | None:
    """The latest initial pull of the connection (running or not)."""
    return SyncRun.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type="contact",
        kind=SyncRun.Kind.INITIAL_PULL,
    ).order_by("-started_at", "-id").first()


# Right after connecting, the first pull is queued but not yet started: the page keeps watching this long.
FIRST_PULL_WAIT = dt.timedelta(minutes=10)


def contact_sync_status(*, connection: GhlConnection) -> dict:
    """What the settings page's contact sync card shows, all read at once so every figure moves together:
    the latest pull (``pull_label`` "Initial pull" for the location's first, "Resync" after), the recent runs
    (each with its ``label``), the synced record counts, and ``live``: whether the page should keep polling
    (a run is going, or the first pull is expected any moment)."""
    from ..selectors import connection_synced_counts

    runs = sync_runs_recent(connection=connection)
    pull = sync_run_current_pull(connection=connection)
    first_pull_id = SyncRun.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type="contact",
        kind=SyncRun.Kind.INITIAL_PULL).order_by("started_at", "id").values_list("id", flat=True).first()
    for run in runs + ([pull] if pull else []):
        run.label = ("Initial pull" if run.pk == first_pull_id else "Resync") if (
            run.kind == SyncRun.Kind.INITIAL_PULL) else run.get_kind_display()
    waiting_for_first = (pull is None and connection.is_active and bool(connection.location_id)
                         and connection.connected_at is not None
                         and timezone.now() - connection.connected_at < FIRST_PULL_WAIT)
    running = any(run.status == SyncRun.Status.RUNNING for run in runs)
    from .first_sync import LOCAL_ONLY_KEY

    return {"pull_run": pull, "sync_runs": runs, "synced_counts": connection_synced_counts(connection=connection),
            "local_only": (connection.config or {}).get(LOCAL_ONLY_KEY),
            "waiting_for_first_pull": waiting_for_first, "live": running or waiting_for_first}
