"""Appointment reconciliation: repair what Appointment* webhooks missed (dropped, reordered, a worker that died).

GHL lists events by *start time* (``GET /calendars/events``: a window and a calendar), never by update time, so a
run reads a window of start times per calendar: the incremental run (beat, every 15 minutes) the near past and the
weeks ahead, where changes matter and happen; the full pass (beat, nightly) a year back and a year ahead. Each run
first mirrors the calendars again (so calendars are refreshed by reconciliation too), then applies every listed
event like a webhook (watermark, our own bookings, statuses, events announced once), then looks at the linked local
appointments of the window GHL did not list: each is fetched once (it may have moved out of the window) and archived
when GHL no longer has it. The run is in the sync log (`SyncRun`, object type ``appointment``) with its counts and
its cost: the HTTP requests it made, in its cursor.

A task's run is bounded in time (#19): out of its budget after a calendar, the run keeps its window and the
calendars done in its cursor and hands over to one follow-up (`ghl_integration.sync.handover`), which goes on with
the next calendar; a run that finds one left unfinished (its follow-up lost, its worker dead) continues it,
whatever window it was asked for.
"""
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from crm.calendar_time import split_range
from crm.models import Appointment, Calendar, ExternalIdentity
from crm.services.appointment_errors import AppointmentUnavailable
from crm.services.appointment_sync import (
    ARCHIVED,
    CREATED,
    GONE,
    NO_CALENDAR,
    NO_CONTACT,
    STALE,
    UNCHANGED,
    UPDATED,
    appointment_apply_remote,
)
from crm.sync.inbound import CreatePushInFlight
from crm.sync.locks import sync_exclusive, sync_job_name
from crm.sync.models import SyncRun
from crm.sync.runs import sync_run_advance, sync_run_finish, sync_run_start

from ..client import GhlClient
from ..client.exceptions import GhlNotFound
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..sync.handover import Handover, claim_run, deadline_after, hand_over
from .appointments_inbound import AppointmentPayloadError, appointment_apply_ghl
from .backend import PROVIDER
from .mirror import calendars_refresh
from .shape import remote_appointment_from_ghl

logger = logging.getLogger(__name__)

OBJECT_TYPE = "appointment"
INCREMENTAL_PAST = timedelta(days=2)
INCREMENTAL_AHEAD = timedelta(days=60)
FULL_PAST = timedelta(days=365)
FULL_AHEAD = timedelta(days=365)
BUDGET_SECONDS = 50.0  # one task's run; then it hands over
# outcome of one apply -> SyncRun counter
COUNTED = {CREATED: "created", UPDATED: "updated", UNCHANGED: "unchanged", STALE: "unchanged", GONE: "unchanged",
           ARCHIVED: "archived", NO_CALENDAR: "failed", NO_CONTACT: "failed"}


@dataclass
class AppointmentsReconciled:
    run: SyncRun
    requests: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    handover: Handover | None = None  # out of time: a follow-up continues the run


def _count(counts: dict[str, int], outcome: str) -> None:
    key = COUNTED.get(outcome, "failed")
    counts[key] = counts.get(key, 0) + 1


def _window(full: bool, now: datetime) -> tuple[datetime, datetime]:
    return (now - FULL_PAST, now + FULL_AHEAD) if full else (now - INCREMENTAL_PAST, now + INCREMENTAL_AHEAD)


def _linked_calendars(connection: GhlConnection) -> dict[str, Calendar]:
    links = ExternalIdentity.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, content_type=ContentType.objects.get_for_model(Calendar))
    by_id = dict(links.values_list("object_id", "external_id"))
    calendars = Calendar.objects.for_org(connection.organization).filter(pk__in=by_id, is_archived=False)
    return {by_id[cal.pk]: cal for cal in calendars}


def _unlisted(connection: GhlConnection, calendar: Calendar, start: datetime, end: datetime,
              listed: set[str]) -> dict[str, Appointment]:
    """Linked local appointments of ``calendar`` starting in the window that GHL did not list."""
    content_type = ContentType.objects.get_for_model(Appointment)
    appointments = Appointment.objects.for_org(connection.organization).filter(
        calendar=calendar, is_archived=False, starts_at__gte=start, starts_at__lt=end)
    links = dict(ExternalIdentity.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, content_type=content_type,
        object_id__in=appointments.values("pk")).values_list("object_id", "external_id"))
    return {links[a.pk]: a for a in appointments.select_related("contact") if a.pk in links
            and links[a.pk] not in listed}


def _apply(connection, client, event: dict, counts, refusals, observed_at: datetime, announce: bool) -> None:
    try:
        _count(counts, appointment_apply_ghl(connection=connection, appointment=event, client=client,
                                             observed_at=observed_at, announce=announce).outcome)
    except (AppointmentPayloadError, AppointmentUnavailable, CreatePushInFlight) as exc:
        # One appointment's trouble must not stop the run; the next run (or its webhook) tries it again.
        _count(counts, "failed")
        refusals[str(event.get("id") or "?")] = f"{type(exc).__name__}: {exc}"


def _archive_vanished(connection, client, calendar_external_id: str, external_id: str, appt: Appointment, counts,
                      refusals, announce: bool) -> None:
    asked_at = timezone.now()
    try:
        event = client.calendars.get_appointment(external_id)
    except GhlNotFound:
        remote = remote_appointment_from_ghl({
            "id": external_id, "startTime": appt.starts_at.isoformat(), "endTime": appt.ends_at.isoformat(),
            "appointmentStatus": appt.status})
        _count(counts, appointment_apply_remote(
            organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
            connection_id=connection.pk, calendar_external_id=calendar_external_id, remote=remote,
            deleted=True, announce=announce).outcome)
        return
    _apply(connection, client, event, counts, refusals, asked_at, announce)  # moved out of the window


def appointments_reconcile(*, connection: GhlConnection, full: bool = False, client: GhlClient | None = None,
                           now: datetime | None = None, budget_seconds: float | None = None,
                           handover: Handover | None = None) -> AppointmentsReconciled | None:
    """One reconciliation of the connection's appointments (see the module docstring); ``full`` for the wide
    window. For at most ``budget_seconds`` (None: to the end): out of time, ``handover`` is set on the result;
    None for a follow-up whose run was continued already. `SyncBusy` (nothing done) while another appointment
    reconciliation of the location runs; `ConnectionInactive` ends the run as cancelled."""
    name = sync_job_name(provider=PROVIDER, account_id=connection.location_id, kind=SyncRun.Kind.RECONCILE,
                         object_type=OBJECT_TYPE)
    with sync_exclusive(name):
        run, superseded = claim_run(connection, SyncRun.Kind.RECONCILE, handover, object_type=OBJECT_TYPE)
        if superseded:
            return None
        return _reconcile(connection=connection, full=full, client=client, now=now or timezone.now(), run=run,
                          deadline=deadline_after(budget_seconds))


def _imported_before(connection: GhlConnection) -> bool:
    return SyncRun.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type=OBJECT_TYPE,
        status=SyncRun.Status.SUCCEEDED).exists()


def _reconcile(*, connection, full, client, now, run, deadline) -> AppointmentsReconciled:
    if run is None:
        start, end = _window(full, now)
        # The location's first pass imports what already existed: nothing happened, so nothing is announced.
        announce = _imported_before(connection)
        run = sync_run_start(organization=connection.organization, provider=PROVIDER,
                             account_id=connection.location_id, kind=SyncRun.Kind.RECONCILE,
                             connection_id=connection.pk, object_type=OBJECT_TYPE)
        cursor = {"phase": "calendars", "full": full, "window_start": start.isoformat(),
                  "window_end": end.isoformat(), "import": not announce, "done": [], "requests": 0}
        run = sync_run_advance(run=run, cursor=cursor)
    else:  # continued: its own window, import flag and the calendars it has done
        cursor = dict(run.cursor)
        start, end = datetime.fromisoformat(cursor["window_start"]), datetime.fromisoformat(cursor["window_end"])
        announce = not cursor["import"]
    result = AppointmentsReconciled(run=run)
    done: list[str] = list(cursor["done"])
    own_client = client is None
    requests_made = [int(cursor.get("requests", 0))]

    def count_request(response, *args, **kwargs):
        requests_made[0] += 1

    try:
        client = client or GhlInstallation(connection).get_client()
        client.http.session.hooks["response"].append(count_request)
        if not done:
            calendars_refresh(connection=connection, client=client)
        worked = False  # each task does at least one calendar
        for calendar_external_id, calendar in _linked_calendars(connection).items():
            if calendar_external_id in done:
                continue
            if worked and time.monotonic() >= deadline:
                result.requests = requests_made[0]
                result.run, result.handover = hand_over(run, {**cursor, "done": done, "requests": result.requests})
                return result
            counts: dict[str, int] = {}
            refusals: dict[str, str] = {}
            listed: set[str] = set()
            for piece_start, piece_end in split_range(start, end):
                asked_at = timezone.now()
                for event in client.calendars.events(start=piece_start, end=piece_end,
                                                     calendar_id=calendar_external_id):
                    if event.get("calendarId") != calendar_external_id or event.get("id") in listed:
                        continue  # an event spanning two pieces is listed by both
                    listed.add(event.get("id"))
                    _apply(connection, client, event, counts, refusals, asked_at, announce)
            for external_id, appt in _unlisted(connection, calendar, start, end, listed).items():
                _archive_vanished(connection, client, calendar_external_id, external_id, appt, counts, refusals,
                                  announce)
            done.append(calendar_external_id)
            worked = True
            run = sync_run_advance(run=run, counts=counts, done=len(listed), refusals=refusals,
                                   cursor={**cursor, "done": done, "requests": requests_made[0]})
            for key, value in counts.items():
                result.counts[key] = result.counts.get(key, 0) + value
        result.requests = requests_made[0]
        finished = {key: value for key, value in cursor.items() if key not in ("phase", "done", "handover")}
        run = sync_run_advance(run=run, cursor={**finished, "requests": result.requests})
        result.run = sync_run_finish(run=run)
    except ConnectionInactive as exc:
        result.run = sync_run_finish(run=run, status=SyncRun.Status.CANCELLED, error=f"connection inactive: {exc}")
    except Exception as exc:
        run = sync_run_advance(run=run, cursor={**cursor, "requests": requests_made[0]})
        sync_run_finish(run=run, status=SyncRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if client is not None:
            try:
                client.http.session.hooks["response"].remove(count_request)
            except ValueError:
                pass
            if own_client:
                client.close()
    logger.info("ghl.appointments.reconcile.done", extra={
        "connection_id": connection.pk, "full": full, "requests": result.requests, "counts": result.counts})
    return result
