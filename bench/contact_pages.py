"""The owner's contact pages at 1,000 and 100,000 mirrored contacts: list search and detail, p95 over N requests.

Fresh PostgreSQL database ``<DATABASE_URL name>_contact_pages`` (migrated, so the trigram index of crm/0008 is
there); two organizations filled with Faker contacts (names in several locales, unique emails, valid phones);
requests through Django's test client as the owner, in this process (the page's own cost: views, selectors,
templates and SQL, no HTTP server). List searches are drawn from the mirror: a first name, a last name, a full
name, an email prefix, a phone in national format, and a word that matches nothing. Detail pages are random
contacts. growth = the larger of the list and detail p95 ratios (100k ÷ 1k).

Last line: ``list_p95_ms=<x> detail_p95_ms=<y> growth=<..>`` (at 100,000). Targets: ≤ 150 ms, growth ≤ 1.5.

    DATABASE_URL=postgres://... python bench/contact_pages.py [--requests 200] [--big 100000] [--small 1000]
"""
import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.agent_tools import _fill  # noqa: E402
from bench.harness import cpu_baseline_ms, fresh_database, migrate  # noqa: E402
from bench.harness import percentile as _p  # noqa: E402


def _queries(people: list[dict], count: int, rng: random.Random) -> list[str]:
    kinds = [
        lambda p: p["first_name"], lambda p: p["last_name"], lambda p: p["full_name"],
        lambda p: p["email"].split("@")[0], lambda p: f"({p['phone'][2:5]}) {p['phone'][5:8]}-{p['phone'][8:]}",
        lambda p: "zzqx",
    ]
    return [kinds[i % len(kinds)](rng.choice(people)) for i in range(count)]


def _measure(client, urls: list[str]) -> list[float]:
    samples = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return samples


def main(args) -> int:
    database_url = fresh_database("contact_pages")
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test")
    migrate(env)
    os.environ.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test")
    import django

    django.setup()
    from urllib.parse import urlencode

    from django.db import connection
    from django.test import Client

    from crm.models import Contact
    from tenancy.services import organization_create, user_create

    rng = random.Random(7)
    owner = user_create(username="bench-owner", password="pw-bench-123456")
    sizes = {}
    for size, seed in ((args.small, 1), (args.big, 2)):
        org = organization_create(name=f"Bench {size}", owner=owner)
        started = time.perf_counter()
        people = _fill(org, size, seed)
        print(f"filled {size} contacts in {time.perf_counter() - started:.1f} s", flush=True)
        ids = list(Contact.objects.for_org(org).values_list("pk", flat=True))
        sizes[size] = {
            "list": [f"/orgs/{org.pk}/contacts/?{urlencode({'q': q})}" for q in _queries(people, args.requests, rng)],
            "detail": [f"/orgs/{org.pk}/contacts/{rng.choice(ids)}/" for _ in range(args.requests)],
        }
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE crm_contact")
    client = Client()
    client.force_login(owner)
    for urls in sizes.values():
        _measure(client, urls["list"][:10] + urls["detail"][:10])  # warm caches and the template loader
    # Both sizes measured in turns, request by request, so a load spike of the shared machine hits both alike.
    samples = {size: {"list": [], "detail": []} for size in sizes}
    for i in range(args.requests):
        for size, urls in sizes.items():
            for kind in ("list", "detail"):
                samples[size][kind] += _measure(client, [urls[kind][i]])
    figures = {}
    for size, measured in samples.items():
        lists, details = measured["list"], measured["detail"]
        figures[size] = (_p(lists, 0.95), _p(details, 0.95))
        print(f"{size} contacts: list p50 {_p(lists, 0.5):.1f} ms p95 {figures[size][0]:.1f} ms; "
              f"detail p50 {_p(details, 0.5):.1f} ms p95 {figures[size][1]:.1f} ms", flush=True)
    (small_list, small_detail), (big_list, big_detail) = figures[args.small], figures[args.big]
    growth = max(big_list / small_list, big_detail / small_detail)
    print(f"nproc={os.cpu_count()} cpu_baseline_ms={cpu_baseline_ms():.0f}")
    print(f"list_p95_ms={big_list:.1f} detail_p95_ms={big_detail:.1f} growth={growth:.2f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    sys.exit(main(parser.parse_args()))
