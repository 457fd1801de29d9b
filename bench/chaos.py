"""Recovery under faults (#19): a killed worker, a database restart, a slow GHL, a Redis outage, a reconnect.

Starts a stack of its own and breaks it: a PostgreSQL cluster (initdb/pg_ctl, own port, in a temp dir) and a
redis-server (own port), so it can stop and restart them; the GHL sandbox with its fault injection, one
location topped up to ``--contacts`` contacts, webhooks pointed at our web server; and every product process
of the Procfile (web, the five queue workers, beat) started from the Procfile's own command lines, with the
production settings (``config.settings.base``, DEBUG off). One organisation connects through the real OAuth
code exchange, which queues the first pull (as in production). Then, in order:

(a) the pulls worker SIGKILLed whole (main process and pool) mid-pull, and started again at once (what a
    process supervisor does); recovery = kill → the pull progressing again. Then the dead worker's unacked
    message is put back on its queue, as Redis does after its visibility timeout: it must not pull again;
(b) PostgreSQL stopped for ``--db-outage`` seconds while a burst of GHL changes sends webhooks and a drain holds
    claimed events; recovery = database back → every event processed and both sides equal;
(c) a slow GHL (30 % 429, 10 % 503, 300 ms per request) while local edits push and GHL changes send webhooks;
    the webhook wait (received → processed) is measured; recovery = faults cleared → everything synced;
(d) redis-server killed while local edits are made (each edit's time is measured), started again (empty)
    after ``--redis-outage`` seconds; recovery = Redis back → every edit in GHL;
(e) the location disconnected right after a run of local edits (no request may reach GHL afterwards), more
    edits while disconnected, then reconnected; recovery = reconnect → every edit in GHL.

After each, the both-sides comparison: every GHL contact of the location has exactly one local twin with equal
fields (names, email, phone); ``lost`` counts GHL contacts without a twin, local contacts without one in GHL
and twins whose fields differ; ``duplicated`` counts GHL contacts with more than one twin, local contacts
linked twice and new GHL contacts sharing an email. Last line:

    recovery_max_s=<x> lost=<n> duplicated=<m> webhook_wait_p99_s=<y>

Targets: recovery ≤ 60 s in every scenario, 0 lost, 0 duplicated, webhook wait p99 ≤ 5 s under a slow GHL.
A scenario that does not settle within ``--settle-timeout`` counts as that timeout. Every process and the temp
dir are removed on exit, error or Ctrl-C; process output is in ``var/bench/chaos-*.log``.

    python bench/chaos.py [--contacts 2000] [--only a,b,c,d,e] [--db-outage 10] [--redis-outage 10]
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    Processes,
    cpu_baseline_ms,
    free_port,
    log_path,
    percentile,
    run_main,
    wait_http,
    wait_until,
)

BENCH = "chaos"
# Every product process of the Procfile; the sandbox is started by the bench (it drives its control API), the
# MCP server plays no part in sync.
ROLES = ("web", "worker", "worker_webhooks", "worker_pushes", "worker_pulls", "worker_maintenance", "beat")
WORKER_ROLES = tuple(r for r in ROLES if r.startswith("worker"))
SLOW_GHL = {"http_429": 0.3, "http_5xx": 0.1, "status_5xx": [503], "latency_ms": 300}


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    entries = dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {name.strip(): command.strip() for name, command in entries.items()}


# -- the servers it can break ---------------------------------------------------------------------------------
class Postgres:
    """A throw-away PostgreSQL cluster on its own port (run as the `postgres` user when we are root)."""

    def __init__(self, tmp: Path, port: int):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        self.bin = Path(bins[-1]) if bins else Path(shutil.which("pg_ctl") or "pg_ctl").parent
        self.dir = tmp / "pg"
        self.dir.mkdir()
        self.port = port
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, user="postgres")
        self.running = False

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / argv[0]), *argv[1:]], check=True, stdout=subprocess.DEVNULL)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")
        self.start()
        subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                        "agentlevel"], check=True)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self.running = False
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/agentlevel"


class Redis:
    def __init__(self, procs: Processes, tmp: Path, port: int):
        self.procs, self.tmp, self.port, self.proc = procs, tmp, port, None

    def start(self) -> None:
        # No persistence: a restart comes back empty, the harder case (every queued message is lost with it).
        self.proc = self.procs.start("redis", ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                               "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
                                     dict(os.environ))
        import redis

        client = redis.Redis(port=self.port)
        wait_until(lambda: _quietly(client.ping), "redis-server", timeout=10, poll=0.05)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.procs.children = [(n, p) for n, p in self.procs.children if p is not self.proc]

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


def _quietly(fn):
    try:
        return fn()
    except Exception:  # noqa: BLE001 - polling a server that is not up yet
        return None


# -- the product ----------------------------------------------------------------------------------------------
class Stack:
    def __init__(self, procs: Processes, env: dict):
        self.procs, self.env, self.commands, self.roles = procs, env, _procfile(), {}

    def start(self, role: str) -> None:
        # As `make run` runs them: the Procfile's command line, with the venv's python and celery on PATH.
        self.roles[role] = self.procs.start(role, ["bash", "-c", f"exec {self.commands[role]}"], self.env)

    def kill(self, role: str) -> None:
        """SIGKILL to the role's whole process group: the main process and its pool children, no clean-up."""
        proc = self.roles.pop(role)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.procs.children = [(n, p) for n, p in self.procs.children if p is not proc]


def _stack_env(pg: Postgres, redis_: Redis, tmp: Path, sandbox_url: str, web_port: int) -> dict:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "0",
        "SECRET_KEY": "chaos-bench-secret-key-not-for-production-0123456789abcdefghijkl",
        "FIELD_ENCRYPTION_KEYS": "chaos-bench-field-encryption-salt",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "GHL_ALLOW_SANDBOX": "1",
        "GHL_WEBHOOK_TRUST_SANDBOX_KEYS": "1",
        "GHL_API_BASE_URL": sandbox_url,
        "GHL_WEBHOOK_SPOOL_DIR": str(tmp / "spool"),
        "DATABASE_URL": pg.url,
        "CELERY_BROKER_URL": redis_.url(0),
        "REDIS_URL": redis_.url(1),
        "WEB_PORT": str(web_port),
        "LOG_LEVEL": "INFO",
    }


# -- observing --------------------------------------------------------------------------------------------------
@dataclass
class Sides:
    remote: int = 0
    twins: int = 0
    missing_local: int = 0
    missing_remote: int = 0
    mismatched: int = 0
    duplicated_local: int = 0
    duplicated_remote: int = 0
    examples: list = field(default_factory=list)
    mismatched_ids: set = field(default_factory=set)

    @property
    def lost(self) -> int:
        return self.missing_local + self.missing_remote + self.mismatched

    @property
    def duplicated(self) -> int:
        return self.duplicated_local + self.duplicated_remote

    def line(self) -> str:
        return (f"GHL={self.remote} twins={self.twins} missing_local={self.missing_local} "
                f"missing_remote={self.missing_remote} mismatched={self.mismatched} "
                f"duplicated_local={self.duplicated_local} duplicated_remote={self.duplicated_remote}")


def _norm(value) -> str:
    return (value or "").strip()


class World:
    """Both sides of one organisation connected to one location, and the work still in flight between them."""

    def __init__(self, sandbox, location_id: str, spool: Path):
        self.sandbox, self.location_id, self.spool = sandbox, location_id, spool
        self.org = self.connection = None
        self.remote_email_dupes_at_start = 0
        self.busy_until: dict[str, float] = {}

    def compare(self) -> Sides:
        from django.contrib.contenttypes.models import ContentType

        from crm.models import Contact, ExternalIdentity

        remote = {c["id"]: c for c in self.sandbox.control.objects("contact", location_id=self.location_id)}
        local = {c.pk: c for c in Contact.objects.filter(organization=self.org, is_archived=False)}
        links = ExternalIdentity.objects.filter(provider="ghl", account_id=self.location_id,
                                                content_type=ContentType.objects.get_for_model(Contact),
                                                object_id__in=list(local)).values_list("external_id", "object_id")
        twins: dict[str, list[int]] = {}
        per_local = Counter()
        for external_id, object_id in links:
            twins.setdefault(external_id, []).append(object_id)
            per_local[object_id] += 1
        sides = Sides(remote=len(remote), twins=sum(1 for r in remote if len(twins.get(r, ())) == 1))
        for remote_id, contact in remote.items():
            mine = twins.get(remote_id, [])
            if not mine:
                sides.missing_local += 1
                continue
            if len(mine) > 1:
                sides.duplicated_local += len(mine) - 1
            twin = local[mine[0]]
            want = (_norm(contact.get("firstName")), _norm(contact.get("lastName")),
                    _norm(contact.get("email")).lower(), _norm(contact.get("phone")))
            have = (_norm(twin.first_name), _norm(twin.last_name), _norm(twin.email).lower(), _norm(twin.phone))
            if want != have:
                sides.mismatched += 1
                sides.mismatched_ids.add(remote_id)
                if len(sides.examples) < 3:
                    sides.examples.append(f"{remote_id}: GHL {want} local {have}")
        sides.missing_remote = sum(1 for pk in local if per_local[pk] == 0)
        sides.duplicated_local += sum(n - 1 for n in per_local.values() if n > 1)
        sides.duplicated_remote = max(0, self._remote_email_dupes(remote) - self.remote_email_dupes_at_start)
        return sides

    @staticmethod
    def _remote_email_dupes(remote: dict) -> int:
        emails = Counter(_norm(c.get("email")).lower() for c in remote.values() if c.get("email"))
        return sum(n - 1 for n in emails.values() if n > 1)

    def backlog(self) -> dict:
        from django.contrib.contenttypes.models import ContentType

        from crm.models import Contact
        from crm.sync.models import OutboxEntry, SyncRun
        from ghl_integration.models import WebhookEvent

        open_events = [WebhookEvent.Status.RECEIVED, WebhookEvent.Status.PROCESSING, WebhookEvent.Status.FAILED]
        open_entries = [OutboxEntry.Status.PENDING, OutboxEntry.Status.IN_PROGRESS, OutboxEntry.Status.FAILED]
        return {
            "events": WebhookEvent.objects.filter(status__in=open_events).count(),
            "dead_events": WebhookEvent.objects.filter(status=WebhookEvent.Status.DEAD).count(),
            "pushes": OutboxEntry.objects.filter(status__in=open_entries,
                                                 content_type=ContentType.objects.get_for_model(Contact)).count(),
            "dead_pushes": OutboxEntry.objects.filter(status=OutboxEntry.Status.DEAD).count(),
            "pulls": SyncRun.objects.filter(status=SyncRun.Status.RUNNING, kind=SyncRun.Kind.INITIAL_PULL).count(),
            "spooled": len(list(self.spool.glob("*.json"))) if self.spool.exists() else 0,
            "ghl_sending": not self.sandbox.control.wait_webhooks(timeout=0),
        }

    def settle(self, t0: float, timeout: float) -> tuple[float | None, Sides, dict]:
        """Seconds from ``t0`` until nothing is in flight and both sides agree (None: not within ``timeout``)."""
        from django.db import connections

        sides, backlog = Sides(), {}
        self.busy_until = {}  # what was still in flight, and until when (seconds after t0): the recovery's parts
        while True:
            elapsed = time.monotonic() - t0
            try:
                backlog = self.backlog()
                for key in ("events", "pushes", "pulls", "spooled", "ghl_sending"):
                    if backlog[key]:
                        self.busy_until[key] = elapsed
                if not any(backlog[k] for k in ("events", "pushes", "pulls", "spooled", "ghl_sending")):
                    sides = self.compare()
                    if sides.lost == 0 and sides.duplicated == 0:
                        return time.monotonic() - t0, sides, backlog
                    self.busy_until["sides_differ"] = elapsed
            except Exception as exc:  # noqa: BLE001 - the database may still be coming back
                backlog = {"error": f"{type(exc).__name__}: {str(exc)[:120]}"}
                self.busy_until["database"] = elapsed
                connections.close_all()
            if time.monotonic() - t0 > timeout:
                try:
                    sides = self.compare()
                except Exception:  # noqa: BLE001, S110
                    pass
                return None, sides, backlog
            time.sleep(0.5)


# -- the scenarios ------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    name: str
    recovery_s: float | None
    sides: Sides
    backlog: dict
    notes: str = ""
    busy_until: dict = field(default_factory=dict)

    def line(self, timeout: float) -> str:
        recovery = f"{self.recovery_s:.1f}" if self.recovery_s is not None else f">{timeout:.0f} (not settled)"
        extra = f" examples={self.sides.examples}" if self.sides.examples and self.sides.lost else ""
        left = "" if self.recovery_s is not None else f" left={self.backlog}"
        busy = ",".join(f"{key}@{at:.1f}" for key, at in sorted(self.busy_until.items(), key=lambda kv: kv[1]))
        return (f"scenario {self.name}: recovery_s={recovery} {self.notes} busy_until=[{busy}] | "
                f"{self.sides.line()}{left}{extra}")


def _sample_remote_ids(world: World, share: float, count: int) -> list[str]:
    """``count`` GHL contacts from ``share`` of the way through the location (scenarios touch disjoint ones)."""
    ids = sorted(c["id"] for c in world.sandbox.control.objects("contact", location_id=world.location_id))
    start = int(share * len(ids))
    return ids[start:start + count]


def _local_twins(world: World, remote_ids: list[str]):
    from crm.models import Contact
    from crm.selectors.external_ids import local_object_for_external_id

    return [local_object_for_external_id(model=Contact, provider="ghl", account_id=world.location_id,
                                         external_id=r) for r in remote_ids]


def _connect(world: World, owner) -> None:
    from django.conf import settings

    from ghl_integration.connections import connection_connect_from_code

    code = world.sandbox.control.issue_code(locationId=world.location_id,
                                            redirectUri=settings.GHL_REDIRECT_URI)["code"]
    world.connection = connection_connect_from_code(organization=world.org, user=owner, code=code).connection


def scenario_a(world: World, stack: Stack, owner, args) -> Outcome:
    """The first pull (queued by connecting) with its worker SIGKILLed mid-way."""
    import redis

    from crm.sync.models import SyncRun

    # GHL answering in 150 ms keeps the pull of a small location running long enough to be killed mid-way.
    world.sandbox.control.faults(api={"latency_ms": 150})
    _connect(world, owner)
    pulls = SyncRun.objects.filter(connection_id=world.connection.pk, kind=SyncRun.Kind.INITIAL_PULL,
                                   object_type="contact")

    def progress(run) -> int:
        return run.created + run.updated + run.linked + run.unchanged

    wait_until(lambda: any(progress(r) > 0 and r.status == SyncRun.Status.RUNNING for r in pulls.all()),
               "the first pull to make progress", timeout=120, poll=0.05)
    run = pulls.get(status=SyncRun.Status.RUNNING)
    stack.kill("worker_pulls")
    t_kill = time.monotonic()
    run.refresh_from_db()
    at_kill = progress(run)
    stack.start("worker_pulls")  # a supervisor restarts a dead process
    world.sandbox.control.clear_faults()

    def resumed() -> bool:
        latest = pulls.order_by("-pk").first()
        return latest.pk != run.pk or progress(latest) > at_kill or latest.status == SyncRun.Status.SUCCEEDED

    wait_until(resumed, "the pull to resume", timeout=args.settle_timeout, poll=0.2)
    resumed_s = time.monotonic() - t_kill
    settled_s, sides, backlog = world.settle(t_kill, args.settle_timeout)
    busy = dict(world.busy_until)
    runs_before = pulls.count()
    # Redis hands an unacked message of a dead consumer to another after its visibility timeout (an hour): do
    # that now, for the pull task the killed worker held, and check that it does not pull a second time.
    client = redis.Redis.from_url(stack.env["CELERY_BROKER_URL"])
    requeued = 0
    for tag, raw in client.hgetall("unacked").items():
        message, _exchange, routing_key = json.loads(raw)
        if message.get("headers", {}).get("task") == "ghl_integration.sync.contacts_initial_pull":
            client.lpush(routing_key, json.dumps(message))
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
            requeued += 1
    time.sleep(2)
    wait_until(lambda: client.llen("pulls") == 0, "the redelivered pull to be taken", timeout=60, poll=0.2)
    time.sleep(3)
    second_pulls = pulls.count() - runs_before
    after_copy, sides_copy, _ = world.settle(time.monotonic(), args.settle_timeout)
    answer = "already-done" if "ghl.sync.pull.already-done" in log_path(BENCH, "worker_pulls").read_text() else "?"
    notes = (f"progress_at_kill={at_kill} resumed_after_s={resumed_s:.1f} "
             f"settled_after_s={'no' if settled_s is None else round(settled_s, 1)} "
             f"redelivered_copies={requeued} copy_answer={answer} second_pulls={second_pulls}")
    if after_copy is None:
        sides = sides_copy
    world.busy_until = busy
    return Outcome("a (pulls worker SIGKILLed mid-pull)", resumed_s if settled_s is not None else None,
                   sides if second_pulls == 0 else _with_duplicate(sides, second_pulls), backlog, notes)


def _with_duplicate(sides: Sides, extra: int) -> Sides:
    sides.duplicated_local += extra
    return sides


def _ghl_changes(world: World, remote_ids: list[str], label: str, per_second: float, stop: threading.Event):
    """GHL users editing contacts (last names), paced; each edit sends webhooks."""
    interval = 1.0 / per_second
    for i, remote_id in enumerate(remote_ids):
        if stop.is_set():
            return
        started = time.monotonic()
        world.sandbox.control.change_contact("update", contactId=remote_id, lastName=f"{label}{i}")
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


def scenario_b(world: World, pg: Postgres, args) -> Outcome:
    """A database restart in the middle of a burst of webhooks, while a drain holds claimed events."""
    from django.db import connections

    from ghl_integration.models import WebhookEvent

    since = time.time()
    ids = _sample_remote_ids(world, 0.0, args.burst)
    stop = threading.Event()
    burst = threading.Thread(target=_ghl_changes, args=(world, ids, "Burst", args.burst_rate, stop), daemon=True)
    burst.start()
    time.sleep(args.burst / args.burst_rate / 4)
    claimed = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not claimed:  # stop while a drain holds a batch, if one is seen
        claimed = WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSING).count()
        time.sleep(0.01)
    connections.close_all()
    pg.stop("fast")
    spooled_max = 0
    outage_end = time.monotonic() + args.db_outage
    while time.monotonic() < outage_end:
        spooled_max = max(spooled_max, len(list(world.spool.glob("*.json"))) if world.spool.exists() else 0)
        time.sleep(0.2)
    pg.start()
    t0 = time.monotonic()
    burst.join()
    recovery, sides, backlog = world.settle(t0, args.settle_timeout)
    deliveries = world.sandbox.control.webhook_deliveries(since=since)
    non_2xx = sum(1 for d in deliveries if d["status"] is None or not 200 <= int(d["status"]) < 300)
    notes = (f"outage_s={args.db_outage} claimed_at_stop={claimed} spooled_max={spooled_max} "
             f"deliveries={len(deliveries)} non_2xx={non_2xx}")
    return Outcome("b (database restart mid webhook burst)", recovery, sides, backlog, notes)


def _local_edits(contacts, label: str, per_second: float, times: list | None = None):
    from crm.services.contacts import contact_update

    interval = 1.0 / per_second if per_second else 0
    for i, contact in enumerate(contacts):
        started = time.monotonic()
        contact.refresh_from_db()
        contact_update(contact=contact, first_name=f"{label}{i}")
        if times is not None:
            times.append(time.monotonic() - started)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


def scenario_c(world: World, args) -> tuple[Outcome, list[float]]:
    """A slow GHL (429s, 503s, 300 ms) while local edits push and GHL changes send webhooks."""
    from django.db import connections
    from django.utils import timezone

    from ghl_integration.models import WebhookEvent

    started_at = timezone.now()
    world.sandbox.control.faults(seed=19, api=SLOW_GHL)
    local = _local_twins(world, _sample_remote_ids(world, 0.2, args.slow_pushes))
    remote = _sample_remote_ids(world, 0.4, args.slow_webhooks)

    def edits():
        try:
            _local_edits(local, "Slow", args.slow_rate)
        finally:
            connections.close_all()

    pusher = threading.Thread(target=edits, daemon=True)
    pusher.start()
    _ghl_changes(world, remote, "Slow", args.slow_rate, threading.Event())
    pusher.join()
    cleared_at = timezone.now()
    world.sandbox.control.clear_faults()
    t0 = time.monotonic()
    recovery, sides, backlog = world.settle(t0, args.settle_timeout)
    events = WebhookEvent.objects.filter(received_at__gte=started_at, received_at__lte=cleared_at,
                                         processed_at__isnull=False)
    waits = [(e.processed_at - e.received_at).total_seconds() for e in events]
    notes = (f"pushes={len(local)} ghl_changes={len(remote)} webhooks={len(waits)} "
             f"wait_p50_s={percentile(waits, 0.5):.2f} wait_p90_s={percentile(waits, 0.9):.2f} "
             f"wait_p99_s={percentile(waits, 0.99):.2f} wait_max_s={max(waits):.2f}" if waits else "webhooks=0")
    return Outcome("c (slow GHL: 30% 429, 10% 503, 300 ms)", recovery, sides, backlog, notes), waits


def scenario_d(world: World, redis_: Redis, args) -> Outcome:
    """Redis killed while local edits are made; started again, empty."""
    local = _local_twins(world, _sample_remote_ids(world, 0.6, args.redis_edits))
    bench_log = log_path(BENCH, "bench")
    lines_before = len(bench_log.read_text().splitlines())
    redis_.kill()
    t_down = time.monotonic()
    times: list[float] = []
    _local_edits(local, "NoRedis", 0, times)
    log_lines = len(bench_log.read_text().splitlines()) - lines_before
    time.sleep(max(0.0, args.redis_outage - (time.monotonic() - t_down)))
    redis_.start()
    t0 = time.monotonic()
    recovery, sides, backlog = world.settle(t0, args.settle_timeout)
    notes = (f"outage_s={t0 - t_down:.1f} edits={len(times)} edit_p50_ms={percentile(times, 0.5) * 1000:.0f} "
             f"edit_max_ms={max(times) * 1000:.0f} log_lines_during_edits={log_lines}")
    return Outcome("d (Redis outage during local edits)", recovery, sides, backlog, notes)


def scenario_e(world: World, owner, args) -> Outcome:
    """Disconnect right after a run of edits (pushes in flight), more edits while disconnected, reconnect."""
    from ghl_integration.connections.disconnect import connection_disconnect

    ids = _sample_remote_ids(world, 0.8, args.reconnect_edits * 2)
    first, second = _local_twins(world, ids[:args.reconnect_edits]), _local_twins(world, ids[args.reconnect_edits:])
    _local_edits(first, "Pending", 0)
    connection_disconnect(connection=world.connection)
    disconnected_at = time.time()
    _local_edits(second, "Offline", 0)
    time.sleep(5)
    # A request already on the wire when the status flipped may still land; nothing may start later.
    after = [r for r in world.sandbox.control.request_log(location_id=world.location_id,
                                                          since=disconnected_at + 0.5)
             if not r["path"].startswith("/oauth")]
    _connect(world, owner)
    t0 = time.monotonic()
    # Recovery = every edit in GHL: the pushes pending at the disconnect and the edits made while disconnected.
    offline = frozenset(ids[args.reconnect_edits:])
    recovery, sides, backlog = world.settle(t0, args.settle_timeout)
    offline_lost = len(sides.mismatched_ids & offline)
    notes = (f"edits_before={len(first)} edits_while_disconnected={len(second)} "
             f"requests_after_disconnect={len(after)} offline_edits_not_in_ghl={offline_lost}")
    return Outcome("e (disconnect with pending pushes, reconnect)", recovery, sides, backlog, notes)


# -- the run ------------------------------------------------------------------------------------------------------
def _wait_workers(app, count: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    names: set = set()
    while time.monotonic() < deadline:
        for reply in app.control.ping(timeout=1.0) or []:
            names.update(reply)
        if len(names) >= count:
            return
    raise RuntimeError(f"only {sorted(names)} of {count} Celery workers answered")


def run(args) -> str:  # noqa: PLR0915 - one linear script: start, break, measure, stop
    from ghl_sandbox import constants as sbx
    from ghl_sandbox.testing import SandboxProcess

    tmp = Path(tempfile.mkdtemp(prefix="chaos-"))
    tmp.chmod(0o755)
    for role in (*ROLES, "redis", "bench"):
        log_path(BENCH, role).write_bytes(b"")
    procs = Processes(BENCH)
    pg = Postgres(tmp, free_port())
    redis_ = Redis(procs, tmp, free_port())
    web_port = free_port()
    sandbox = SandboxProcess(state=tmp / "sandbox.sqlite3", seed="demo",
                             webhook_urls=(f"http://127.0.0.1:{web_port}/webhooks/ghl/",))
    try:
        pg.init()
        redis_.start()
        sandbox.start()
        env = _stack_env(pg, redis_, tmp, sandbox.base_url, web_port)
        os.environ.update({k: v for k, v in env.items() if k != "PATH"})
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                       check=True)
        subprocess.run([sys.executable, "manage.py", "setup_periodic_tasks"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        existing = len(sandbox.control.objects("contact", location_id=sbx.DEMO_LOCATION_ID))
        sandbox.control.seed(locationId=sbx.DEMO_LOCATION_ID, contacts=max(0, args.contacts - existing), users=0,
                             pipelines=False, calendars=False, customFields=False)
        stack = Stack(procs, env)
        for role in ROLES:
            stack.start(role)
        import django

        django.setup()
        import logging

        # This process's own log lines (a failed notify while Redis is down, ...) go to a file, not the terminal.
        handler = logging.FileHandler(log_path(BENCH, "bench"))
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logging.getLogger().handlers = [handler]
        logging.disable(logging.INFO)
        from config.celery import app as celery_app
        from tenancy.services import organization_create, user_create

        wait_http(f"http://127.0.0.1:{web_port}/accounts/login/", timeout=120)
        _wait_workers(celery_app, len(WORKER_ROLES))
        print(f"chaos: stack up (PostgreSQL :{pg.port}, Redis :{redis_.port}, web :{web_port}, "
              f"{len(WORKER_ROLES)} workers + beat); location with {args.contacts} contacts", flush=True)

        world = World(sandbox, sbx.DEMO_LOCATION_ID, tmp / "spool")
        world.remote_email_dupes_at_start = world._remote_email_dupes(
            {c["id"]: c for c in sandbox.control.objects("contact", location_id=sbx.DEMO_LOCATION_ID)})
        owner = user_create(username="chaos-owner", password="chaos-password-123")
        world.org = organization_create(name="Chaos Clinic", owner=owner)

        outcomes: list[Outcome] = []
        waits: list[float] = []
        only = set(args.only.split(","))
        if "a" in only:
            outcomes.append(scenario_a(world, stack, owner, args))
            outcomes[-1].busy_until = dict(world.busy_until)
        else:
            _connect(world, owner)
            world.settle(time.monotonic(), args.settle_timeout)
        print(outcomes[-1].line(args.settle_timeout) if outcomes else "chaos: first pull done", flush=True)
        for key, scenario in (("b", lambda: scenario_b(world, pg, args)),
                              ("c", lambda: scenario_c(world, args)),
                              ("d", lambda: scenario_d(world, redis_, args)),
                              ("e", lambda: scenario_e(world, owner, args))):
            if key not in only:
                continue
            result = scenario()
            if isinstance(result, tuple):
                result, waits = result
            result.busy_until = dict(world.busy_until)
            outcomes.append(result)
            print(result.line(args.settle_timeout), flush=True)
        final = world.compare()
        print(f"chaos: final comparison {final.line()}; nproc={os.cpu_count()} "
              f"cpu_baseline_ms={cpu_baseline_ms():.0f}", flush=True)
        recovery_max = max((o.recovery_s if o.recovery_s is not None else args.settle_timeout) for o in outcomes)
        lost = max([o.sides.lost for o in outcomes] + [final.lost])
        duplicated = max([o.sides.duplicated for o in outcomes] + [final.duplicated])
        p99 = f"{percentile(waits, 0.99):.2f}" if waits else "NA"
        return f"recovery_max_s={recovery_max:.1f} lost={lost} duplicated={duplicated} webhook_wait_p99_s={p99}"
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - Django may not be set up yet
            pass
        procs.stop_all()
        sandbox.close()
        try:
            pg.stop("immediate")
        except Exception as exc:  # noqa: BLE001 - go on removing the rest
            print(f"chaos: could not stop PostgreSQL: {exc}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--only", default="a,b,c,d,e", help="scenarios to run (comma-separated letters)")
    parser.add_argument("--settle-timeout", type=float, default=180.0, help="seconds a scenario may take to settle")
    parser.add_argument("--burst", type=int, default=300, help="(b) GHL changes in the webhook burst")
    parser.add_argument("--burst-rate", type=float, default=20.0, help="(b) GHL changes per second")
    parser.add_argument("--db-outage", type=float, default=10.0, help="(b) seconds PostgreSQL stays down")
    parser.add_argument("--slow-pushes", type=int, default=100, help="(c) local edits pushed to the slow GHL")
    parser.add_argument("--slow-webhooks", type=int, default=150, help="(c) GHL changes sending webhooks")
    parser.add_argument("--slow-rate", type=float, default=5.0, help="(c) edits and changes per second, each")
    parser.add_argument("--redis-edits", type=int, default=50, help="(d) local edits while Redis is down")
    parser.add_argument("--redis-outage", type=float, default=10.0, help="(d) seconds Redis stays down")
    parser.add_argument("--reconnect-edits", type=int, default=50, help="(e) edits before and while disconnected")
    arguments = parser.parse_args()
    sys.exit(run_main(lambda: run(arguments)))
