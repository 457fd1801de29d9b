"""Booking under contention: 100 concurrent booking attempts by 20 callers for 10 slots of one calendar.

Starts its own GHL sandbox and database (PostgreSQL when DATABASE_URL points at one, as the booking lock is
PostgreSQL's; else a SQLite file), connects the demo location, mirrors a calendar with ten half-hour slots on
one day, and releases 20 caller threads at once; each caller (its own contact) makes 5 attempts at slots drawn
so every slot is wanted ten times. The sandbox waits ``--ghl-race-ms`` between validating a slot and saving the
appointment, as GHL holds no slot, so racing creates could both land without the product's lock. Last line:

    booked=<n> double_booked=<m> p95_ms=<x>

booked = appointments left in GHL (target 10), double_booked = extra appointments on an already-booked slot
(target 0), p95_ms = the 95th percentile of one attempt's wall time (a win, a conflict or a replay).

    python bench/booking.py [--callers 20] [--attempts 100] [--slots 10] [--ghl-race-ms 20]
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _prepare_database(tmpdir: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return f"sqlite:///{tmpdir}/booking.sqlite3"
    import psycopg

    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + "_booking_bench"
    admin_url = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _setup(sandbox, args):
    """An organisation connected to the demo location, a calendar with `args.slots` slots, 20 linked contacts."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from django.conf import settings

    from crm.models import Calendar, Contact
    from crm.selectors.external_ids import local_object_for_external_id
    from crm.services.external_ids import external_id_link
    from ghl_integration.calendars.mirror import calendars_refresh
    from ghl_integration.connections import connection_connect_from_code
    from ghl_sandbox import constants as sbx
    from tenancy.services import organization_create, user_create

    owner = user_create(username="bench-owner", password="bench-password-123")
    org = organization_create(name="Booking Bench", owner=owner)
    code = sandbox.control.issue_code(locationId=sbx.DEMO_LOCATION_ID, redirectUri=settings.GHL_REDIRECT_URI)["code"]
    connection = connection_connect_from_code(organization=org, user=owner, code=code).connection
    close_minute = args.slots * 30
    remote = sandbox.control.change(
        "calendar.create", locationId=sbx.DEMO_LOCATION_ID, name="Bench", allowBookingFor=0,
        openHours=[{"daysOfTheWeek": [0, 1, 2, 3, 4, 5, 6], "hours": [
            {"openHour": 9, "openMinute": 0, "closeHour": 9 + close_minute // 60, "closeMinute": close_minute % 60}]}],
    )["calendar"]
    calendars_refresh(connection=connection)
    calendar = local_object_for_external_id(model=Calendar, provider="ghl", account_id=sbx.DEMO_LOCATION_ID,
                                            external_id=remote["id"])
    contacts = []
    for i in range(args.callers):
        ghl_contact = sandbox.control.change_contact("create", locationId=sbx.DEMO_LOCATION_ID,
                                                     firstName=f"Caller{i}", lastName="Bench")["contact"]
        local = Contact.objects.create(organization=org, first_name=f"Caller{i}", full_name=f"Caller{i} Bench")
        external_id_link(obj=local, provider="ghl", account_id=sbx.DEMO_LOCATION_ID, external_id=ghl_contact["id"],
                         connection_id=connection.pk)
        contacts.append(local)
    tz = ZoneInfo(calendar.timezone)
    day = datetime.now(tz).date() + timedelta(days=7)
    first = datetime(day.year, day.month, day.day, 9, tzinfo=tz)
    slots = [(first + timedelta(minutes=30 * i)).isoformat() for i in range(args.slots)]
    return org, calendar, contacts, slots, remote["id"]


def _run(org, calendar, contacts, slots, args) -> tuple[list[float], Counter]:
    from django.db import connections

    from crm.services.appointment_errors import AppointmentError
    from crm.services.appointments import appointment_book

    wanted = [slots[i % len(slots)] for i in range(args.attempts)]
    random.Random(7).shuffle(wanted)
    per_caller = [wanted[i::args.callers] for i in range(args.callers)]
    durations: list[float] = []
    outcomes: Counter = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(args.callers)

    def caller(index: int) -> None:
        try:
            barrier.wait()
            for start in per_caller[index]:
                t0 = time.perf_counter()
                try:
                    result = appointment_book(organization=org, calendar=calendar, contact=contacts[index],
                                              start_time=start)
                    outcome = "found_existing" if result.found_existing else "booked"
                except AppointmentError as exc:
                    outcome = exc.code
                with lock:
                    durations.append((time.perf_counter() - t0) * 1000)
                    outcomes[outcome] += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(args.callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return durations, outcomes


def main(args) -> int:
    with tempfile.TemporaryDirectory(prefix="booking-bench-") as tmpdir:
        database_url = _prepare_database(tmpdir)
        env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)

        from ghl_sandbox import constants as sbx
        from ghl_sandbox.testing import SandboxProcess

        with SandboxProcess(state=Path(tmpdir) / "sandbox.sqlite3", seed="demo") as sandbox:
            os.environ.update(DATABASE_URL=database_url, GHL_API_BASE_URL=sandbox.base_url)
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
            import django

            django.setup()
            org, calendar, contacts, slots, remote_id = _setup(sandbox, args)
            sandbox.control.faults(api={"booking_race_ms": args.ghl_race_ms})
            sandbox.control.clear_request_log()
            t0 = time.perf_counter()
            durations, outcomes = _run(org, calendar, contacts, slots, args)
            wall = time.perf_counter() - t0

            in_ghl = [a for a in sandbox.control.objects("appointment", location_id=sbx.DEMO_LOCATION_ID)
                      if a["calendarId"] == remote_id and a["appointmentStatus"] != "cancelled"]
            per_slot = Counter(a["startTime"] for a in in_ghl)
            double_booked = sum(n - 1 for n in per_slot.values())
            durations.sort()
            p95 = durations[max(0, int(len(durations) * 0.95) - 1)] if durations else 0.0
            log = sandbox.control.request_log()
            requests = len(log)
            kinds = Counter(f"{r['method']} {r['path'].split('/')[-1] if 'free-slots' in r['path'] else r['path']}"
                            for r in log)
            if args.verbose:
                print(dict(kinds))
            print(f"attempts={len(durations)} outcomes={dict(outcomes)} wall_s={wall:.2f} ghl_requests={requests} "
                  f"ghl_race_ms={args.ghl_race_ms} nproc={os.cpu_count()}")
            print(f"booked={len(in_ghl)} double_booked={double_booked} p95_ms={p95:.0f}")
            return 0 if len(in_ghl) == len(slots) and double_booked == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, default=20)
    parser.add_argument("--attempts", type=int, default=100)
    parser.add_argument("--slots", type=int, default=10)
    parser.add_argument("--ghl-race-ms", type=int, default=20)
    parser.add_argument("--verbose", action="store_true", help="print GHL requests by kind")
    sys.exit(main(parser.parse_args()))
