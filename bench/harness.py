"""What the benchmarks that start processes share: fresh databases, free ports, child processes, the product's
stack (`product_stack`: sandbox, web server, worker), a connected demo location, paced measurements, waits, figures.

Child processes run in their own process group with their output in a log under ``var/bench/`` (never on the
terminal, so a worker's shutdown message cannot land after a bench's figure line), and a `Processes` group
stops them all, in reverse order, whatever happens (error, Ctrl-C, SIGTERM).
"""
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# -- databases -----------------------------------------------------------------------------------------------
def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres", scheme="postgresql"))


def fresh_database(suffix: str, *, sqlite_dir: str | None = None) -> str:
    """A new, empty `<DATABASE_URL's name>_<suffix>` database on PostgreSQL (dropped first if it exists).

    Without a PostgreSQL ``DATABASE_URL`` it is a SQLite file in ``sqlite_dir`` when given, else the bench
    stops: concurrent server, workers and bench need PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        if sqlite_dir is not None:
            return f"sqlite:///{sqlite_dir}/{suffix}.sqlite3"
        raise SystemExit("DATABASE_URL must point at PostgreSQL (concurrent server, workers and benchmark)")
    import psycopg

    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + f"_{suffix}"
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(database_url: str) -> None:
    if not database_url.startswith("postgres"):
        return
    import psycopg

    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001, S110 - Django may not be set up yet
        pass
    with psycopg.connect(_admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(database_url).path.lstrip("/")}" WITH (FORCE)')


def migrate(env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


# -- processes -----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_path(bench: str, name: str) -> Path:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return LOG_DIR / f"{bench}-{name}.log"


def stop_process(proc: subprocess.Popen | None, *, timeout: float = 15.0) -> None:
    """SIGTERM to the process group, SIGKILL after ``timeout``; a process already gone is fine."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


class Processes:
    """Child processes, each in its own process group with its output in a log, stopped in reverse order."""

    def __init__(self, bench: str):
        self.bench = bench
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict, *, cwd: Path = ROOT) -> subprocess.Popen:
        log = log_path(self.bench, name)
        with log.open("ab") as handle:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,  # noqa: S603
                                    start_new_session=True)
        self.children.append((name, proc))
        return proc

    def gunicorn(self, env: dict, port: int, *, workers: int = 2, threads: int = 4,
                 app: str = "bench.sync_wiring:wsgi_application()", name: str = "web") -> subprocess.Popen:
        return self.start(name, [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}",
                                 "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"],
                          env)

    def celery_worker(self, env: dict, *, app: str, queues: str, concurrency: int, name: str = "worker",
                      extra: tuple[str, ...] = ("--without-gossip", "--without-mingle", "--without-heartbeat"),
                      loglevel: str = "WARNING") -> subprocess.Popen:
        return self.start(name, [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queues,
                                 "-c", str(concurrency), "--loglevel", loglevel, *extra], env)

    def stop(self, proc: subprocess.Popen) -> None:
        stop_process(proc)
        self.children = [(n, p) for n, p in self.children if p is not proc]

    def stop_all(self) -> None:
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for _name, proc in reversed(self.children):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        self.children.clear()

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def interrupt_on_signals() -> None:
    """SIGTERM/SIGHUP (and SIGINT, which a background job may inherit as ignored) raise KeyboardInterrupt once,
    so `finally` blocks stop every child; later signals are ignored so the clean-up is not broken half-way."""

    def on_signal(signum, frame):
        for other in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(other, signal.SIG_IGN)
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)


# -- the product's stack -------------------------------------------------------------------------------------
@dataclass
class Stack:
    """What `product_stack` started: the GHL sandbox, the product's base URL, the children's environment."""

    sandbox: Any
    base_url: str
    env: dict
    procs: Processes
    database_url: str


@contextmanager
def product_stack(bench: str, *, worker_app: str = "bench.sync_celery", worker_concurrency: int = 2,
                  web_workers: int = 2, web_threads: int = 4, webhooks: bool = True,
                  extra_env: dict | None = None) -> Iterator[Stack]:
    """A fresh ``<DATABASE_URL name>_<bench>`` PostgreSQL database, a GHL sandbox (seeded with the demo location,
    its webhooks sent to the product unless ``webhooks`` is off), the product under gunicorn on a free port and a
    Celery worker of ``worker_app`` on a private queue (broker ``CELERY_BROKER_URL``, default
    ``redis://127.0.0.1:6379/2``). This process is set up as the product too (Django on the same database, its
    Celery app queueing to the worker), so a bench can make changes as a user or an agent would. Everything is
    stopped and the database dropped on the way out, whatever happens."""
    queue = f"bench-{bench}-{uuid.uuid4().hex[:8]}"
    database_url = fresh_database(bench)
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2")
    # The run's own GHL rate-limit window: under the default prefix every process on the same Redis that talks
    # to the sandbox's demo location (a test run's worker subprocesses, another bench) shares its 100 / 10 s,
    # and a push waits for slots (outbound p50 ~1 s on 12-06; bench/RESULTS.md).
    extra_env = {"GHL_RATE_LIMIT_KEY_PREFIX": f"ghl:rl:bench:{uuid.uuid4().hex[:8]}", **(extra_env or {})}
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test",
               CELERY_BROKER_URL=broker, BENCH_CELERY_QUEUE=queue, PYTHONPATH=str(ROOT), **extra_env)
    try:
        migrate(env)
        from ghl_sandbox.testing import SandboxProcess

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        webhook_urls = (f"{base_url}/webhooks/ghl/",) if webhooks else ()
        with tempfile.TemporaryDirectory(prefix=f"{bench}-") as tmpdir, SandboxProcess(
            state=Path(tmpdir) / "sandbox.sqlite3", seed="demo", webhook_urls=webhook_urls,
        ) as sandbox, Processes(bench) as procs:
            env["GHL_API_BASE_URL"] = sandbox.base_url
            procs.gunicorn(env, port, workers=web_workers, threads=web_threads)
            procs.celery_worker(env, app=worker_app, queues=queue, concurrency=worker_concurrency)
            wait_http(f"{base_url}/accounts/login/")
            os.environ.update({key: env[key] for key in (
                "DATABASE_URL", "GHL_API_BASE_URL", "DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL",
                "BENCH_CELERY_QUEUE", *extra_env)})
            from bench.sync_wiring import celery_application

            celery_application()  # this process queues pushes after its own local changes
            yield Stack(sandbox=sandbox, base_url=base_url, env=env, procs=procs, database_url=database_url)
    finally:
        drop_database(database_url)


def bench_owner():
    """The user who owns the bench's organizations."""
    from tenancy.services import user_create

    return user_create(username="bench-owner", password="bench-password-123")


def connect_demo_location(sandbox, *, organization, user):
    """Connect ``organization`` to the sandbox's demo location through the OAuth code flow, as its owner would."""
    from django.conf import settings

    from ghl_integration.connections import connection_connect_from_code
    from ghl_sandbox import constants as sbx

    code = sandbox.control.issue_code(locationId=sbx.DEMO_LOCATION_ID, redirectUri=settings.GHL_REDIRECT_URI)["code"]
    return connection_connect_from_code(organization=organization, user=user, code=code).connection


def demo_organization(sandbox, name: str):
    """(owner, organization, connection) for a new organization ``name`` connected to the demo location."""
    from tenancy.services import organization_create

    owner = bench_owner()
    org = organization_create(name=name, owner=owner)
    return owner, org, connect_demo_location(sandbox, organization=org, user=owner)


# -- waiting -------------------------------------------------------------------------------------------------
def wait_http(url: str, timeout: float = 30.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wait_until(check, what: str, *, timeout: float = 15.0, poll: float = 0.005) -> float:
    """The monotonic time at which ``check()`` first held; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(poll)
    raise RuntimeError(f"timed out waiting for {what}")


# -- figures -------------------------------------------------------------------------------------------------
def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1): the smallest sample with at least q of them at or below it."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99)."""
    return statistics.median(samples), percentile(samples, 0.99)


def paced_latencies_ms(count: int, interval: float, change: Callable[[int], float], *,
                       clock: Callable[[], float] = time.monotonic) -> list[float]:
    """Make ``count`` changes at most one per ``interval`` seconds (GHL's rate budget): ``change(i)`` makes the
    i-th and returns when (on ``clock``) its effect was seen; the latency of each, in ms."""
    samples = []
    for i in range(count):
        started = clock()
        samples.append((change(i) - started) * 1000)
        time.sleep(max(0.0, interval - (clock() - started)))
    return samples


def latency_summary(label: str, samples: list[float]) -> str:
    p50, p99 = percentiles(samples)
    return f"{label}: n={len(samples)} p50={p50:.0f} ms p99={p99:.0f} ms max={max(samples):.0f} ms"


def machine_line() -> str:
    """The machine's size and load, printed before a figure line (bench/RESULTS.md keeps both)."""
    return f"nproc={os.cpu_count()} cpu_baseline_ms={cpu_baseline_ms():.0f}"


def cpu_baseline_ms() -> float:
    """A fixed pure-Python loop of 2,000,000 steps: how loaded the machine was (bench/RESULTS.md)."""
    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i * i % 7
    return (time.perf_counter() - started) * 1000


def run_main(run) -> int:
    """Run ``run()`` (which starts and stops everything and returns the figure line), then print that line last,
    after every child has stopped. Ctrl-C or SIGTERM stops the children too (exit 130)."""
    interrupt_on_signals()
    try:
        figure = run()
    except KeyboardInterrupt:
        print("bench: interrupted; every process it started has been stopped", file=sys.stderr)
        return 130
    print(figure, flush=True)
    return 0
