"""Shared set-up for the inbound sync benchmarks: a fresh database, Django, a connected sandbox location."""
import logging
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402


def prepare_database(tmpdir: str, suffix: str) -> str:
    """A fresh database: `<DATABASE_URL's name>_<suffix>` on PostgreSQL, else a SQLite file in ``tmpdir``."""
    return harness.fresh_database(suffix, sqlite_dir=tmpdir)


drop_database = harness.drop_database
migrate = harness.migrate


def bench_env(database_url: str, base_url: str) -> dict:
    """Environment for this process and any worker it starts (a private rate-limit key space)."""
    env = {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "GHL_API_BASE_URL": base_url,
        "GHL_RATE_LIMIT_KEY_PREFIX": f"ghl:rl:bench:{uuid.uuid4().hex[:8]}",
        "GHL_SYNC_PULL_ON_CONNECT": "0",
    }
    os.environ.update(env)
    # The pull runs at production's `PullTuning` defaults: the bench measures what runs in production.
    return dict(os.environ)


def setup_django(log_name: str = "inbound") -> None:
    import django

    django.setup()
    # The process logs what production logs (the client: every request at INFO), into a log under var/bench/
    # rather than on the terminal: the bench pays what production pays, and its figure line stays the last line.
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:
            to_file = logging.FileHandler(harness.log_path(log_name, "process"), mode="w")
            to_file.setFormatter(handler.formatter)
            to_file.setLevel(handler.level)
            root.removeHandler(handler)
            root.addHandler(to_file)


def connect_location(sandbox, location_id: str):
    """An organisation connected to ``location_id`` through the real OAuth code exchange."""
    from django.conf import settings

    from ghl_integration.connections import connection_connect_from_code
    from tenancy.services import organization_create, user_create

    owner = user_create(username=f"bench-{uuid.uuid4().hex[:6]}", password="bench-password-123")
    org = organization_create(name="Bench Clinic", owner=owner)
    code = sandbox.control.issue_code(locationId=location_id, redirectUri=settings.GHL_REDIRECT_URI)["code"]
    return connection_connect_from_code(organization=org, user=owner, code=code).connection


def quiet_window(sandbox, seconds: float = 10.5) -> None:
    """Let the connect flow's requests leave GHL's 10-second window, so the measured part starts fresh."""
    time.sleep(seconds)
    sandbox.control.rate_limits(max=100, interval_ms=10_000, enabled=True, reset=True)
    sandbox.control.clear_request_log()


def api_requests(sandbox) -> list[dict]:
    """Requests against GHL's rate-limited API (not the OAuth endpoints)."""
    return [r for r in sandbox.control.request_log() if not r["path"].startswith("/oauth")]


def run_against_fresh_sandbox(name: str, run, args) -> int:
    """A fresh database and a demo-seeded sandbox; `run(args, sandbox, location_id)`; both gone afterwards."""
    import tempfile

    from ghl_sandbox import constants as sbx
    from ghl_sandbox.testing import SandboxProcess

    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmpdir:
        database_url = prepare_database(tmpdir, name.replace("-", "_"))
        try:
            with SandboxProcess(state=Path(tmpdir) / "sandbox.sqlite3", seed="demo") as sandbox:
                migrate(bench_env(database_url, sandbox.base_url))
                setup_django(name)
                return run(args, sandbox, sbx.DEMO_LOCATION_ID)
        finally:
            drop_database(database_url)


def seed_contacts(sandbox, location_id: str, total: int) -> None:
    """Top the location up to `total` contacts (the demo seed already has some)."""
    existing = len(sandbox.control.objects("contact", location_id=location_id))
    sandbox.control.seed(locationId=location_id, contacts=max(0, total - existing), users=0,
                         pipelines=False, calendars=False, customFields=False)
