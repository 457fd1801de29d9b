"""Refresh race: many threads and processes find one connection's token expired at the same moment.

GHL's refresh tokens are single-use, so exactly one of them may refresh; everyone else must wait for the
row lock and then use the new token. This starts its own GHL sandbox, a database (PostgreSQL when
DATABASE_URL points at it, else a SQLite file), connects one location, expires its token on both sides,
and releases the crowd at once. Last line:

    refresh_requests=<n> invalid_grant=<m> stale_token_uses=<k>

(expected: 1, 0, 0). Exit status 0 only then.

    python bench/refresh_race.py [--threads 20] [--processes 4] [--threads-per-process 5]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _prepare_database(tmpdir: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return f"sqlite:///{tmpdir}/refresh_race.sqlite3"
    import psycopg

    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + "_refresh_race"
    admin_url = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _setup_django(database_url: str, base_url: str | None = None) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    if base_url:
        os.environ["GHL_API_BASE_URL"] = base_url
    import django

    django.setup()


def _crowd(connection_id: int, threads: int, start_at: float) -> list[str]:
    """Each thread waits for `start_at`, then makes one API call with a token from the shared provider."""
    from django.db import connections

    from ghl_integration.installation import GhlInstallation
    from ghl_integration.models import GhlConnection

    outcomes: list[str] = []

    def one() -> None:
        try:
            connection = GhlConnection.objects.get(pk=connection_id)
            client = GhlInstallation(connection).get_client()
            time.sleep(max(0.0, start_at - time.time()))
            client.locations.get()
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001 - the bench reports every failure kind
            outcomes.append(f"error:{type(exc).__name__}:{exc}")
        finally:
            connections.close_all()

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


def worker_main(args) -> int:
    _setup_django(args.database_url, args.base_url)
    outcomes = _crowd(args.connection_id, args.threads_per_process, args.start_at)
    for outcome in outcomes:
        print(outcome, flush=True)
    return 0 if all(o == "ok" for o in outcomes) else 1


def main(args) -> int:
    with tempfile.TemporaryDirectory(prefix="refresh-race-") as tmpdir:
        database_url = _prepare_database(tmpdir)
        env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)

        from ghl_sandbox import constants as sbx
        from ghl_sandbox.testing import SandboxProcess

        with SandboxProcess(state=Path(tmpdir) / "sandbox.sqlite3", seed="demo") as sandbox:
            _setup_django(database_url, sandbox.base_url)
            from datetime import timedelta

            from django.conf import settings
            from django.utils import timezone

            from ghl_integration.connections import connection_connect_from_code
            from ghl_integration.models import GhlConnection
            from tenancy.services import organization_create, user_create

            owner = user_create(username="race-owner", password="race-password-123")
            org = organization_create(name="Race Clinic", owner=owner)
            code = sandbox.control.issue_code(locationId=sbx.DEMO_LOCATION_ID,
                                              redirectUri=settings.GHL_REDIRECT_URI)["code"]
            connection = connection_connect_from_code(organization=org, user=owner, code=code).connection
            GhlConnection.objects.filter(pk=connection.pk).update(
                token_expires_at=timezone.now() - timedelta(minutes=1)
            )
            sandbox.control.expire_tokens()
            sandbox.control.clear_request_log()

            start_at = time.time() + 3.0  # time for every process to start and connect
            children = [
                subprocess.Popen(
                    [sys.executable, __file__, "--worker", "--database-url", database_url, "--base-url",
                     sandbox.base_url, "--connection-id", str(connection.pk), "--threads-per-process",
                     str(args.threads_per_process), "--start-at", str(start_at)],
                    cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                )
                for _ in range(args.processes)
            ]
            outcomes = _crowd(connection.pk, args.threads, start_at)
            for child in children:
                out, _ = child.communicate(timeout=120)
                outcomes.extend(line for line in out.splitlines() if line.startswith(("ok", "error:")))

            log = sandbox.control.request_log()
            token_calls = [r for r in log if r["path"] == "/oauth/token"]
            refresh_requests = sum(1 for r in token_calls if r.get("grant_type") == "refresh_token")
            invalid_grant = sum(1 for r in token_calls if r["status"] == 400)
            stale_token_uses = sum(1 for r in log if r["status"] == 401)
            failures = [o for o in outcomes if o != "ok"]
            callers = args.threads + args.processes * args.threads_per_process
            print(f"callers={callers} succeeded={len(outcomes) - len(failures)} failed={len(failures)}")
            for failure in failures[:5]:
                print(f"  {failure}")
            print(f"refresh_requests={refresh_requests} invalid_grant={invalid_grant} "
                  f"stale_token_uses={stale_token_uses}")
            ok = refresh_requests == 1 and invalid_grant == 0 and stale_token_uses == 0 and not failures
            return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=20, help="threads in the coordinating process")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads-per-process", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--connection-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    cli = parser.parse_args()
    sys.exit(worker_main(cli) if cli.worker else main(cli))
