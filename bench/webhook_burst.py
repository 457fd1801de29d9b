"""Benchmark the webhook inbox: a burst of signed events against gunicorn + PostgreSQL + a Celery worker.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/al_inbox .venv/bin/python bench/webhook_burst.py --events 10000

Starts (and always stops, also on Ctrl-C or error) gunicorn with the production configuration
(config/gunicorn.conf.py) serving the endpoint and a Celery worker, both on a dedicated PostgreSQL database
`<DATABASE_URL's name>_bench` (dropped and migrated first) and the Redis broker in CELERY_BROKER_URL (default
redis://127.0.0.1:6379/5, flushed first; also the REDIS_URL that debounces drain requests). A thread pool of keep-alive
connections on loopback sends the burst, each body signed with the sandbox Ed25519 dev key. Prints
acknowledgements per second, p50/p99 acknowledgement latency, non-2xx count, and the time from the last
delivery until the worker(s) have finished every event.

The same gunicorn (same configuration, settings and middleware stack: `bench/webhook_burst_app.py`) also serves a
bare Django view that reads the body and answers 200. The events are sent in `--rounds` rounds: a slice to the bare
view, the same bodies and headers over the same connections to the inbox, then a wait until the worker has
finished the slice (so it never runs during a bare slice). `ratio_to_bare` is the inbox's acknowledgements per
second over the bare view's, both totals over the rounds, so a shared machine's changing load weighs on both
alike; it says what the inbox costs over the framework itself whatever the machine's speed (targets: ratio >= 0.7,
p99 <= 50 ms, processed <= 60 s after a round's last delivery). It also prints the CPU each part spent per request
(web server, worker, this database's PostgreSQL backends, load generator) and the commits per request.
Last line:
    acked_per_s=<x> bare_per_s=<b> ratio_to_bare=<r> p99_ms=<y> non_2xx=<n> processed_s=<z>
"""

import argparse
import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import redis
from cryptography.hazmat.primitives.serialization import load_pem_private_key

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from config.settings.celery import WORKER_QUEUES  # noqa: E402  (a plain settings module: no Django set up)

VENV_BIN = Path(sys.executable).parent  # the interpreter running the bench: a worktree has no .venv of its own
EXAMPLES_DIR = REPO / "tests" / "fixtures" / "ghl" / "webhooks"
INBOX_PATH = "/webhooks/ghl/"
BARE_PATH = "/bench/bare/"  # served by bench/webhook_burst_app.py
DEV_KEY = REPO / "ghl_sandbox" / "dev_keys" / "ed25519_private.pem"
EVENT_FILES = (
    "ContactCreate",
    "ContactUpdate",
    "OpportunityUpdate",
    "InboundMessage",
    "AppointmentCreate",
    "NoteCreate",
)
FINISHED = ("processed", "ignored", "skipped", "dead")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10000)
    # Closed loop: each connection sends its next event as soon as the last is answered, so the machine is
    # saturated whatever the number, and the mean latency is simply connections / throughput. 8 deliveries in
    # flight at once is already more than one location's webhooks produce; raise it to see the queueing.
    parser.add_argument("--concurrency", type=int, default=8, help="client connections sending in parallel")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes (gthread)")
    parser.add_argument("--web-threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--worker-nice", type=int, default=10, help="niceness of the Celery worker")
    parser.add_argument("--processing-timeout", type=float, default=180.0)
    parser.add_argument("--rounds", type=int, default=4, help="bare/inbox rounds the events are sent in")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database at the end")
    parser.add_argument("--timeline", help="write each request's send offset and latency (ms) to this CSV file")
    return parser.parse_args()


class Processes:
    """Child processes, each in its own process group, stopped in reverse order whatever happens."""

    def __init__(self):
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict, log: Path) -> subprocess.Popen:
        handle = log.open("wb")
        proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children.append((name, proc))
        return proc

    def stop_all(self):
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 15
        for name, proc in reversed(self.children):
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                print(f"bench: {name} did not stop in time, killing it", file=sys.stderr)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        self.children.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_database_url(base_url: str) -> tuple[str, str, str]:
    parsed = urlparse(base_url)
    if parsed.scheme not in ("postgres", "postgresql"):
        sys.exit("bench: DATABASE_URL must point at PostgreSQL")
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("bench: DATABASE_URL must be on loopback")
    name = f"{parsed.path.lstrip('/') or 'agentlevel'}_bench"
    admin = urlunparse(parsed._replace(path="/postgres"))
    return urlunparse(parsed._replace(path=f"/{name}")), admin, name


def recreate_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_bodies(count: int) -> list[tuple[bytes, str]]:
    key = load_pem_private_key(DEV_KEY.read_bytes(), password=None)
    templates = [json.loads((EXAMPLES_DIR / f"{name}.json").read_text()) for name in EVENT_FILES]
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    bodies = []
    for i in range(count):
        payload = dict(templates[i % len(templates)])
        payload["timestamp"] = now
        payload["webhookId"] = str(uuid.uuid4())
        body = json.dumps(payload, separators=(",", ":")).encode()
        bodies.append((body, base64.b64encode(key.sign(body)).decode()))
    return bodies


def wait_for_http(port: int, procs: Processes, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.children:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited early with code {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/webhooks/ghl/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not come up")


def wait_for_worker(broker_url: str, timeout: float = 60) -> None:
    from celery import Celery

    app = Celery("bench", broker=broker_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(timeout=1.0):
            return
    raise RuntimeError("the Celery worker did not answer a ping")


def cpu_baseline_ms() -> float:
    """The fixed pure-Python loop every bench prints (bench/RESULTS.md compares machines by it)."""
    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i * i % 7
    return (time.perf_counter() - started) * 1000


def send_burst(
    port: int, bodies: list[tuple[bytes, str]], concurrency: int, timeline: list | None = None, path: str = INBOX_PATH
):
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    position = iter(range(len(bodies)))

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local_lat, local_status = [], []
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                break
            body, signature = bodies[index]
            started = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    path,
                    body=body,
                    headers={"Content-Type": "application/json", "x-ghl-signature": signature},
                )
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            local_lat.append(time.perf_counter() - started)
            if timeline is not None:
                timeline.append((started, local_lat[-1]))
            local_status.append(status)
        conn.close()
        with lock:
            latencies.extend(local_lat)
            statuses.extend(local_status)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, statuses


def finished_count(db_url: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM ghl_integration_webhookevent WHERE status = ANY(%s)", (list(FINISHED),)
        ).fetchone()
    return row[0]


class CpuMeter:
    """CPU seconds spent by each part of the bench (its own process trees and database backends), between marks.

    The machine is shared, so its load says little; these say where a round's CPU went: the web server, the
    worker, this database's PostgreSQL backends, and the load generator itself.
    """

    def __init__(self, procs: Processes, db_url: str):
        self.sessions = {proc.pid: name for name, proc in procs.children}  # each child leads its own session
        self.db_url = db_url
        self.tick = os.sysconf("SC_CLK_TCK")

    def snapshot(self) -> dict[str, float]:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            backends = {
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            }
            # Committed transactions (web and worker): how well the group commit shares them out.
            commits = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()[0]
        totals = {"web": 0.0, "web_sys": 0.0, "worker": 0.0, "postgres": 0.0}
        roles = {"gunicorn": "web", "celery": "worker"}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            fields = stat[stat.rindex(")") + 2 :].split()
            session, ticks = int(fields[3]), int(fields[11]) + int(fields[12])
            if int(entry.name) in backends:
                totals["postgres"] += ticks / self.tick
            elif session in self.sessions:
                totals[roles[self.sessions[session]]] += ticks / self.tick
                if self.sessions[session] == "gunicorn":
                    totals["web_sys"] = totals.get("web_sys", 0.0) + int(fields[12]) / self.tick
        own = os.times()
        totals["client"] = own.user + own.system
        totals["commits"] = commits / 1000  # shown per request like the others, hence the scale
        return totals

    @staticmethod
    def per_request_ms(before: dict, after: dict, requests: int) -> str:
        cpu = ", ".join(
            f"{role} {(after[role] - before[role]) / requests * 1000:.2f}" for role in before if role != "commits"
        )
        return f"{cpu}; commits per request {(after['commits'] - before['commits']) / requests * 1000:.2f}"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def run(args, procs: Processes) -> str:
    base_url = os.environ.get("DATABASE_URL")
    if not base_url:
        sys.exit("bench: set DATABASE_URL (PostgreSQL on 127.0.0.1)")
    db_url, admin_url, db_name = bench_database_url(base_url)
    broker_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/5")
    port = free_port()
    logs = REPO / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "0",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
        "FIELD_ENCRYPTION_KEYS": "bench-field-encryption-salt",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "GHL_WEBHOOK_TRUST_SANDBOX_KEYS": "1",  # the bench signs with the sandbox dev key
        "GHL_ALLOW_SANDBOX": "1",  # no real GHL app credentials here
        "GHL_WEBHOOK_SPOOL_DIR": str(logs / "spool"),
        "DATABASE_URL": db_url,
        "DB_CONN_MAX_AGE": "600",  # persistent connections: a new PostgreSQL connection per request costs ms
        "CELERY_BROKER_URL": broker_url,
        "REDIS_URL": broker_url,  # the shared cache debounces drain requests (one broker message per drain)
        "LOG_LEVEL": "WARNING",
    }

    print(f"bench: database {db_name} (recreated, migrated); broker {broker_url} (flushed)")
    recreate_database(admin_url, db_name)
    redis.Redis.from_url(broker_url).flushdb()
    subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True
    )

    procs.start(
        "gunicorn",
        # The production configuration (config/gunicorn.conf.py), sized from the command line.
        [
            str(VENV_BIN / "gunicorn"),
            "-c",
            str(REPO / "config" / "gunicorn.conf.py"),
            "bench.webhook_burst_app:application",  # config.wsgi's application plus the bare view
        ],
        {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(args.web_workers),
            "GUNICORN_THREADS": str(args.web_threads),
            "GUNICORN_LOG_LEVEL": "warning",
        },
        logs / "gunicorn.log",
    )
    procs.start(
        "celery",
        [
            # Lower priority than the web server: on this 2-core box the worker catches up after the burst,
            # as it would on its own host in production.
            "nice",
            "-n",
            str(args.worker_nice),
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            ",".join(WORKER_QUEUES),  # one worker for every role's queue, as on a one-host deployment
            "--pool=prefork",
            f"--concurrency={args.celery_concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env,
        logs / "celery.log",
    )
    wait_for_http(port, procs)
    wait_for_worker(broker_url)

    warmup = build_bodies(200)
    send_burst(port, warmup, args.concurrency)
    send_burst(port, warmup, args.concurrency, path=BARE_PATH)
    bodies = build_bodies(args.events)
    # Bare rounds run while the worker is idle (the warm-up's events finished first), so they are not slowed by it.
    if wait_finished(db_url, len(warmup), args.processing_timeout) is None:
        raise RuntimeError("the warm-up's events were not processed")
    print(f"nproc={os.cpu_count()} cpu_baseline_ms={cpu_baseline_ms():.0f}")
    print(
        f"bench: gunicorn {args.web_workers}x{args.web_threads} gthread on :{port}, celery x{args.celery_concurrency}; "
        f"sending {args.events} signed events over {args.concurrency} keep-alive connections"
    )
    meter = CpuMeter(procs, db_url)
    # The machine is shared: its load changes within a minute. Rounds alternate bare and inbox slices of the
    # burst, each inbox slice processed before the next bare one (the worker never runs during a bare slice), so
    # drift weighs on both alike; the rates are totals over all rounds.
    slices = [bodies[i :: args.rounds] for i in range(args.rounds)]
    bare_sent = bare_time = 0.0
    elapsed, latencies, statuses, processed = 0.0, [], [], []
    timeline: list | None = [] if args.timeline else None
    expected = len(warmup)
    inbox_cpu: dict | None = None
    for number, part in enumerate(slices, 1):
        sent, took = bare_round(port, part, args.concurrency, f"round {number}", meter)
        bare_sent, bare_time = bare_sent + sent, bare_time + took
        mark = meter.snapshot()
        took, part_latencies, part_statuses = send_burst(port, part, args.concurrency, timeline)
        last_delivery = time.monotonic()
        elapsed += took
        latencies += part_latencies
        statuses += part_statuses
        expected += sum(1 for status in part_statuses if 200 <= status < 300)
        processed_s = wait_finished(db_url, expected, args.processing_timeout, since=last_delivery)
        processed.append(float("inf") if processed_s is None else processed_s)
        after = meter.snapshot()
        inbox_cpu = {k: (inbox_cpu or {}).get(k, 0.0) + after[k] - mark[k] for k in after}
        print(
            f"bench: inbox round {number}: {len(part)} events in {took:.2f}s ({len(part) / took:.0f}/s), "
            f"p99 {percentile(part_latencies, 99) * 1000:.1f} ms; all {expected} stored events finished "
            f"{processed[-1]:.2f}s after its last delivery"
        )
    if timeline:
        first = min(start for start, _ in timeline)
        Path(args.timeline).write_text("".join(f"{start - first:.4f},{lat * 1000:.2f}\n" for start, lat in timeline))
    non_2xx = sum(1 for status in statuses if not 200 <= status < 300)
    acked = len(statuses) - non_2xx
    acked_per_s = acked / elapsed
    bare_per_s = bare_sent / bare_time
    p50 = percentile(latencies, 50) * 1000
    p99 = percentile(latencies, 99) * 1000
    processed_s = max(processed)
    zero = dict.fromkeys(inbox_cpu, 0.0)
    print(
        f"bench: inbox {acked}/{len(statuses)} acked in {elapsed:.2f}s ({acked_per_s:.0f}/s), bare view "
        f"{bare_per_s:.0f}/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f} ms; "
        f"non-2xx {non_2xx}; processed at most {processed_s:.2f}s after a round's last delivery"
    )
    print(f"bench: inbox CPU ms per event (receipt and processing): {meter.per_request_ms(zero, inbox_cpu, acked)}")
    if not args.keep_db:
        procs.stop_all()
        drop_database(admin_url, db_name)
    return (
        f"acked_per_s={acked_per_s:.0f} bare_per_s={bare_per_s:.0f} ratio_to_bare={acked_per_s / bare_per_s:.2f} "
        f"p99_ms={p99:.1f} non_2xx={non_2xx} processed_s={processed_s:.2f}"
    )


def bare_round(
    port: int, bodies: list[tuple[bytes, str]], concurrency: int, label: str, meter: CpuMeter
) -> tuple[int, float]:
    mark = meter.snapshot()
    elapsed, latencies, statuses = send_burst(port, bodies, concurrency, path=BARE_PATH)
    cpu = meter.per_request_ms(mark, meter.snapshot(), len(statuses))
    ok = sum(1 for status in statuses if status == 200)
    if ok != len(statuses):
        raise RuntimeError(f"the bare view answered {len(statuses) - ok} requests with something else than 200")
    rate = ok / elapsed
    print(
        f"bench: bare view {label}: {rate:.0f}/s, p50 {percentile(latencies, 50) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:.1f} ms; CPU ms per request: {cpu}"
    )
    return ok, elapsed


def wait_finished(db_url: str, expected: int, timeout: float, since: float | None = None) -> float | None:
    """Seconds from `since` (default now) until `expected` events are finished, or None after `timeout`."""
    since = time.monotonic() if since is None else since
    while time.monotonic() - since < timeout:
        if finished_count(db_url) >= expected:
            return time.monotonic() - since
        time.sleep(0.2)
    return None


def main():
    args = parse_args()
    procs = Processes()

    def on_signal(signum, frame):
        # Only the first signal interrupts; later ones must not break the cleanup half-way.
        for other in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(other, signal.SIG_IGN)
        raise KeyboardInterrupt

    # SIGINT too: a job started in the background by a non-interactive shell inherits SIGINT as ignored.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        line = run(args, procs)
    except KeyboardInterrupt:
        print("bench: interrupted, stopping everything", file=sys.stderr)
        sys.exit(130)
    finally:
        procs.stop_all()
    print(line)


if __name__ == "__main__":
    main()
