"""The owner's contact pages at 1,000 and 100,000 mirrored contacts: list search and detail, p95 over N requests.

Fresh PostgreSQL database ``<DATABASE_URL name>_contact_pages`` (migrated, so the trigram index of crm/0008 is
there); two organizations filled with Faker contacts (names in several locales, unique emails, valid phones).
The pages are served as production serves them: gunicorn with config/gunicorn.conf.py (gthread, 2 workers × 8
threads unless GUNICORN_* say otherwise) on ``config.wsgi`` with DEBUG off (TLS settings off, as behind a proxy
that terminates it; the cache on ``REDIS_URL`` when set), in its own process; this process logs in through the
login form and sends each request over HTTP with a kept-alive connection, one at a time. List searches are
drawn from the mirror: a first name, a last name, a full name, an email prefix, a phone in national format, and
a word that matches nothing. Detail pages are random contacts. growth = the larger of the list and detail p95
ratios (100k ÷ 1k).

Last line: ``list_p95_ms=<x> detail_p95_ms=<y> growth=<..>`` (at 100,000). Targets: ≤ 150 ms, growth ≤ 1.5.

    DATABASE_URL=postgres://... python bench/contact_pages.py [--requests 200] [--big 100000] [--small 1000]
"""
import argparse
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.agent_tools import people_fill  # noqa: E402
from bench.harness import (  # noqa: E402
    Processes,
    cpu_baseline_ms,
    drop_database,
    free_port,
    fresh_database,
    migrate,
    run_main,
    wait_http,
)
from bench.harness import percentile as _p  # noqa: E402

PASSWORD = "pw-bench-123456"  # noqa: S105 - a throwaway user of a throwaway database


def production_env(database_url: str) -> dict[str, str]:
    """The web process's environment: production rules (DEBUG off, secrets given), TLS left to a proxy."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "GUNICORN_BIND"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings.base", "DEBUG": "0", "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-contact-pages-" + "k" * 40, "FIELD_ENCRYPTION_KEYS": "bench-contact-pages-salt",
        "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0", "SECURE_HSTS_SECONDS": "0", "GHL_ALLOW_SANDBOX": "1",
        "GHL_SYNC_PULL_ON_CONNECT": "0", "LOG_LEVEL": "WARNING", "GUNICORN_LOG_LEVEL": "warning",
    })
    return env


def _queries(people: list[dict], count: int, rng: random.Random) -> list[str]:
    kinds = [
        lambda p: p["first_name"], lambda p: p["last_name"], lambda p: p["full_name"],
        lambda p: p["email"].split("@")[0], lambda p: f"({p['phone'][2:5]}) {p['phone'][5:8]}-{p['phone'][8:]}",
        lambda p: "zzqx",
    ]
    return [kinds[i % len(kinds)](rng.choice(people)) for i in range(count)]


def _log_in(session, base: str, username: str) -> None:
    form = session.get(f"{base}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    if form.status_code != 200 or token is None:
        raise RuntimeError(f"login page: HTTP {form.status_code}")
    answer = session.post(f"{base}/accounts/login/", data={
        "csrfmiddlewaretoken": token.group(1), "username": username, "password": PASSWORD,
    }, headers={"Referer": f"{base}/accounts/login/"}, allow_redirects=False, timeout=30)
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        raise RuntimeError(f"login refused: HTTP {answer.status_code}")


def _measure(session, base: str, paths: list[str]) -> list[float]:
    samples = []
    for path in paths:
        started = time.perf_counter()
        response = session.get(base + path, allow_redirects=False, timeout=30)
        body = response.content  # the whole page, as a browser waits for it
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or b"</html>" not in body:
            raise RuntimeError(f"{path}: HTTP {response.status_code}")
    return samples


def _sync_history(org, ids: list[int]) -> None:
    """Each contact linked to a GHL location with two changes from it (a webhook's, a reconciliation's), so the
    detail page reads a history table as large as the mirror (its 'Changes from GHL' and the pull's summary)."""
    from django.contrib.contenttypes.models import ContentType

    from crm.models import Contact, ExternalIdentity
    from crm.sync.models import RemoteChange

    content_type = ContentType.objects.get_for_model(Contact)
    common = {"organization": org, "provider": "ghl", "account_id": f"bench-{org.pk}", "content_type": content_type}
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        ExternalIdentity.objects.bulk_create(ExternalIdentity(object_id=pk, external_id=f"g{pk}", **common)
                                             for pk in chunk)
        RemoteChange.objects.bulk_create(
            RemoteChange(object_id=pk, external_id=f"g{pk}", source=source, outcome="updated",
                         changes={"city": ["Salem", "Portland"], "dnd_sms": [False, True]}, **common)
            for pk in chunk for source in ("webhook", "reconcile"))


def main(args) -> str:
    import requests

    database_url = fresh_database("contact_pages")
    env = production_env(database_url)
    try:
        migrate(env)
        os.environ.update(env)
        import django

        django.setup()
        from urllib.parse import urlencode

        from django.db import connection

        from crm.models import Contact
        from tenancy.services import organization_create, user_create

        rng = random.Random(7)
        owner = user_create(username="bench-owner", password=PASSWORD)
        sizes = {}
        for size, seed in ((args.small, 1), (args.big, 2)):
            org = organization_create(name=f"Bench {size}", owner=owner)
            started = time.perf_counter()
            people = people_fill(org, size, seed)
            ids = list(Contact.objects.for_org(org).values_list("pk", flat=True))
            _sync_history(org, ids)
            print(f"filled {size} contacts (with links and sync history) in {time.perf_counter() - started:.1f} s",
                  flush=True)
            sizes[size] = {
                "list": [f"/orgs/{org.pk}/contacts/?{urlencode({'q': q})}"
                         for q in _queries(people, args.requests, rng)],
                "detail": [f"/orgs/{org.pk}/contacts/{rng.choice(ids)}/" for _ in range(args.requests)],
            }
        with connection.cursor() as cursor:
            for table in ("crm_contact", "crm_externalidentity", "crm_remotechange"):
                cursor.execute(f"VACUUM ANALYZE {table}")  # what autovacuum does after a bulk load
        connection.close()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with Processes("contact_pages") as procs:
            procs.start("web", [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.conf.py"),
                                "config.wsgi"], {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"})
            wait_http(f"{base}/accounts/login/")
            session = requests.Session()
            session.trust_env = False  # loopback only, whatever proxy the shell names
            _log_in(session, base, owner.username)
            for urls in sizes.values():  # warm every worker's caches and template loader
                _measure(session, base, urls["list"][:20] + urls["detail"][:20])
            # Both sizes measured in turns, request by request, so a load spike of the shared machine hits both.
            samples = {size: {"list": [], "detail": []} for size in sizes}
            for i in range(args.requests):
                for size, urls in sizes.items():
                    for kind in ("list", "detail"):
                        samples[size][kind] += _measure(session, base, [urls[kind][i]])
        figures = {}
        for size, measured in samples.items():
            lists, details = measured["list"], measured["detail"]
            figures[size] = (_p(lists, 0.95), _p(details, 0.95))
            print(f"{size} contacts: list p50 {_p(lists, 0.5):.1f} ms p95 {figures[size][0]:.1f} ms; "
                  f"detail p50 {_p(details, 0.5):.1f} ms p95 {figures[size][1]:.1f} ms", flush=True)
        (small_list, small_detail), (big_list, big_detail) = figures[args.small], figures[args.big]
        growth = max(big_list / small_list, big_detail / small_detail)
        print(f"nproc={os.cpu_count()} cpu_baseline_ms={cpu_baseline_ms():.0f} loadavg={os.getloadavg()[0]:.1f}",
              flush=True)
        return f"list_p95_ms={big_list:.1f} detail_p95_ms={big_detail:.1f} growth={growth:.2f}"
    finally:
        drop_database(database_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    arguments = parser.parse_args()
    sys.exit(run_main(lambda: main(arguments)))
