"""Initial pull benchmark: every contact of a GHL location into PostgreSQL with GHL's rate limits on.

Starts its own sandbox (seeded with ``--contacts`` contacts, 100 requests / 10 s enforced), a fresh database
(PostgreSQL when DATABASE_URL points at it, else SQLite), connects through the OAuth code exchange (which also
loads the location's custom-field definitions into the field mapping), waits for the window to clear, and runs
the same service the Celery task runs (`contacts_initial_pull`) with production's `PullTuning` (dateAdded slices,
as many requests in flight as the first round trip calls for, four writer threads, up to 5 pages per write).
``--latency-ms`` / ``--jitter-ms`` make the sandbox answer every API request that much later (uniform jitter on
top), as GHL's 150–400 ms round trips do; the floor counts the least of them where a client must wait for one.

The floor is the least time GHL's limit and the round trip allow. The issue states it as
``max(0, requests − 100) / 10`` s (the client benchmark's formula), exact when ``requests − 100`` is a multiple
of 100. Under the sliding window GHL documents (and the sandbox enforces), request k + 100 cannot go before
request k + 10 s, so the window alone allows ``10 · ⌈(requests − 100) / 100⌉`` s (`window_floor_s`). Two things
keep it honest:

* ``requests`` is the fewest the pull could have made, ``⌈contacts / page size⌉``, or the pull's own count when
  that is lower (each slice's last request takes its remainder in one): a pull that made more requests than
  it needed does not raise its own floor.
* GHL counts a request when it arrives, anywhere between its start and its answer, and says nothing of when:
  a client that must never be answered 429 starts request k + 100 a window after request k's *answer* (see
  `ghl_integration/client/ratelimit.py`), so each window crossed costs at least one round trip
  (``--latency-ms``, the sandbox's least), and the pull ends no sooner than one round trip after its last
  request started. ``floor_s`` = window floor + (windows crossed + 1) × latency; without latency both agree.

For 30,000 contacts in pages of 100 (300 requests) that is 20 s, and 20.75 s at 250 ms. Last line:

    ratio_to_floor=<x.xx> duplicates=<n>

(target ≤ 1.10 and 0). ``duplicates`` counts extra local contacts/links for one GHL contact, plus gaps.

    python bench/initial_pull.py --contacts 30000 --page-size 100 --latency-ms 250 --jitter-ms 100
"""
import argparse
import math
import os
import sys
import time

from inbound_common import (  # bench/ is on sys.path when run as a script
    api_requests,
    connect_location,
    quiet_window,
    run_against_fresh_sandbox,
    seed_contacts,
)


def main(args) -> int:
    return run_against_fresh_sandbox("initial-pull", run, args)


def cpu_baseline_ms() -> float:
    """The fixed pure-Python loop of 2,000,000 steps that bench/RESULTS.md compares machines and loads by."""
    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i * i % 7
    return (time.perf_counter() - started) * 1000


def window_floor_seconds(requests: int, burst: int = 100, window_s: float = 10.0) -> float:
    """Least time ``requests`` can take under a sliding window of ``burst`` per ``window_s``."""
    return window_s * math.ceil(max(0, requests - burst) / burst)


def floor_seconds(requests: int, round_trip_s: float, burst: int = 100, window_s: float = 10.0) -> float:
    """Least time ``requests`` can take for a client that is never answered 429: the window's floor, plus a
    round trip per window crossed (the next burst waits for the answers) and one for the last answer."""
    windows = math.ceil(max(0, requests - burst) / burst)
    return window_s * windows + (windows + 1) * round_trip_s


def run(args, sandbox, location_id: str) -> int:
    from crm.models import Contact, ExternalIdentity
    from ghl_integration.contacts.pull import contacts_initial_pull

    seed_contacts(sandbox, location_id, args.contacts)
    connection = connect_location(sandbox, location_id)
    quiet_window(sandbox)
    if args.latency_ms or args.jitter_ms:
        sandbox.control.faults(seed=13, api={"latency_ms": args.latency_ms, "latency_jitter_ms": args.jitter_ms})

    wall_started = time.time()
    started = time.perf_counter()
    result = contacts_initial_pull(connection=connection, page_size=args.page_size)
    seconds = time.perf_counter() - started

    requests = len(api_requests(sandbox))
    remote_ids = {c["id"] for c in sandbox.control.objects("contact", location_id=location_id)}
    needed = min(requests, math.ceil(len(remote_ids) / args.page_size))
    linear_floor = max(0, needed - 100) / 10
    window_floor = window_floor_seconds(needed)
    floor = floor_seconds(needed, args.latency_ms / 1000)
    links = list(ExternalIdentity.objects.filter(account_id=location_id).values_list("external_id", flat=True))
    contacts = Contact.objects.count()
    slices = (result.run.cursor or {}).get("slices") or {}
    duplicates = (len(links) - len(set(links))) + (contacts - len(set(links))) + len(remote_ids - set(links))
    print(f"status={result.run.status} contacts={contacts} remote={len(remote_ids)} pages={result.pages} "
          f"requests={requests} seconds={seconds:.2f} floor_s={floor:.2f} window_floor_s={window_floor:.2f} "
          f"linear_floor_s={linear_floor:.2f} "
          f"latency_ms={args.latency_ms} jitter_ms={args.jitter_ms} slices={len(slices)} "
          f"nproc={os.cpu_count()} cpu_baseline_ms={cpu_baseline_ms():.0f}")
    # Where the time went: request k + 100 cannot start before request k + 10 s, so the bursts' spread and the
    # last answers set how far the pull lands above the floor.
    log = sorted(api_requests(sandbox), key=lambda r: r["t"])
    if log:
        first_t = log[0]["t"]
        marks = [n for n in (1, 100, 101, 200, 201, len(log)) if n <= len(log)]
        answers = sorted(r["duration_ms"] for r in log)
        print("requests start at " + " ".join(f"#{n}={log[n - 1]['t'] - first_t:.2f}s" for n in marks)
              + f"; sandbox answer p50={answers[len(answers) // 2]:.0f} ms max={answers[-1]:.0f} ms"
              + f"; first request {first_t - wall_started:.2f}s after the start, pull took {seconds:.2f}s")
    ratio = seconds / floor if floor else 0.0
    print(f"ratio_to_linear_floor={seconds / linear_floor if linear_floor else 0.0:.2f} "
          f"ratio_to_window_floor={seconds / window_floor if window_floor else 0.0:.2f}")
    print(f"ratio_to_floor={ratio:.2f} duplicates={duplicates}")
    return 0 if result.run.status == "succeeded" and duplicates == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=30_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every GHL answer (GHL: 150-400)")
    parser.add_argument("--jitter-ms", type=int, default=0, help="uniform extra latency, 0 to this")
    sys.exit(main(parser.parse_args()))
