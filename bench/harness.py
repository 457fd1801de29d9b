"""What the benchmarks that start processes share: fresh databases, free ports, child processes, waits, figures.

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
import time
from pathlib import Path
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
