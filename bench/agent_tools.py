"""Agent tools over REST: read latency at 1,000 and 100,000 mirrored contacts, and write latency against GHL.

Starts a GHL sandbox, the product (gunicorn) and a Celery worker (private queue on ``CELERY_BROKER_URL``,
default ``redis://127.0.0.1:6379/2``), on a fresh PostgreSQL database ``<DATABASE_URL name>_agent_tools``.

* reads: ``find_contact`` and ``get_contact_context`` over HTTP with queries drawn from the mirror (names with
  a typo, lower-cased or without accents, a first name only, emails, phones in national format), against an
  organization of 1,000 contacts and one of 100,000; growth = p95 at 100k / p95 at 1k (an index, not a scan);
* the business context: ``get_business_context`` against the same two organizations. It counts what the mirror
  holds per kind (a count grows with the rows, unlike a lookup), so it is reported apart from the lookups' growth;
* writes: ``create_contact``, ``update_contact``, ``add_tags``, ``remove_tags`` on an organization connected to the
  sandbox, each confirmed by GHL. ``write_p95_ms`` is our own time: each call's latency less the time the
  sandbox itself spent answering that call's GHL requests (its request log's ``duration_ms``).

Last line: ``read_p95_ms=<x> growth=<p95 100k / p95 1k> write_p95_ms=<y> context_p95_ms=<z>``. Targets: read
p95 <= 50 ms (the context's too, at 100k), growth <= 1.5, write p95 <= 500 ms plus GHL's own time.

    python bench/agent_tools.py [--reads 150] [--writes 40] [--big 100000] [--small 1000]
"""
import argparse
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    bench_owner,
    connect_demo_location,
    machine_line,
    percentile,
    product_stack,
    run_main,
)

LOCALES = ["en_US", "es_ES", "fr_FR", "de_DE", "pt_BR", "it_IT"]  # accents, several naming cultures
AREA_CODES = ["503", "541", "971", "360", "206", "425", "253", "509", "208", "702"]


def people_fill(org, count: int, seed: int) -> list[dict]:
    """`count` contacts with Faker names (realistic spread: common and rare names, accents) and unique emails and
    valid US phones, each linked to a GHL id with a snapshot as a pulled contact is (bulk_create keeps this
    independent of the sync engine's internals)."""
    from faker import Faker

    from crm.models import Contact

    fake = Faker(LOCALES)
    fake.seed_instance(seed)
    people, batch = [], []
    for i in range(count):
        first, last = fake.first_name(), fake.last_name()
        exchange = 200 + (i // len(AREA_CODES)) % 700
        exchange += 1 if exchange % 100 == 11 else 0  # N11 exchanges are not valid numbers
        line = (i // (len(AREA_CODES) * 700)) + 1000 * seed
        person = dict(first_name=first, last_name=last, full_name=f"{first} {last}",
                      email=f"p{seed}-{i}@example.com",
                      phone=f"+1{AREA_CODES[i % len(AREA_CODES)]}{exchange:03d}{line:04d}")
        people.append(person)
        batch.append(Contact(organization=org, **person))
        if len(batch) == 5000:
            _create_linked(batch)
            batch = []
    _create_linked(batch)
    return people


def _create_linked(contacts: list) -> None:
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from crm.models import Contact, ExternalIdentity

    kind, now = ContentType.objects.get_for_model(Contact), timezone.now()
    Contact.objects.bulk_create(contacts)
    ExternalIdentity.objects.bulk_create(
        ExternalIdentity(organization_id=c.organization_id, provider="ghl", account_id=f"BenchLoc{c.organization_id}",
                         content_type=kind, object_id=c.pk, external_id=f"bench-{c.pk}", last_synced_at=now,
                         synced_snapshot={"firstName": c.first_name, "lastName": c.last_name, "email": c.email,
                                          "phone": c.phone, "tags": [], "customFields": []})
        for c in contacts)


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def _read_queries(people: list[dict], n: int, seed: int) -> list[tuple[str, dict]]:
    from agents.tools.resolve import fold

    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = rng.choice(people)
        kind = i % 5
        if kind == 0:
            out.append(("find_contact", {"query": _typo(p["full_name"], rng)}))
        elif kind == 1:
            out.append(("find_contact", {"query": fold(p["full_name"])}))
        elif kind == 2:
            out.append(("find_contact", {"query": p["first_name"], "limit": 10}))
        elif kind == 3:
            out.append(("get_contact_context", {"contact": p["email"]}))
        else:
            digits = p["phone"][2:]
            out.append(("get_contact_context", {"contact": f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"}))
    return out


def _measure_reads(session, base: str, key: str, queries) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    for tool, body in queries:
        started = time.perf_counter()
        response = session.post(f"{base}/api/agent/tools/{tool}/", json=body,
                                headers={"Authorization": f"Bearer {key}"}, timeout=30)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code not in (200, 409):  # 409: an ambiguous name, a correct answer
            raise RuntimeError(f"{tool} {body}: HTTP {response.status_code} {response.text[:300]}")
        samples.setdefault(tool, []).append(elapsed)
    return samples


def _measure_writes(session, base: str, key: str, sandbox, n: int) -> tuple[list[float], list[float]]:
    totals, own = [], []
    run = uuid.uuid4().hex[:6]
    for i in range(n):
        name = f"Writer{i} Bench{run}"
        calls = [("create_contact", {"name": name, "email": f"w{i}-{run}@example.com"}),
                 ("update_contact", {"contact": f"w{i}-{run}@example.com", "fields": {"city": f"City {i}"}}),
                 ("add_tags", {"contact": f"w{i}-{run}@example.com", "tags": ["bench", f"t{i}"]}),
                 ("remove_tags", {"contact": f"w{i}-{run}@example.com", "tags": ["bench"]})]
        for tool, body in calls:
            sandbox.control.clear_request_log()
            started = time.perf_counter()
            response = session.post(f"{base}/api/agent/tools/{tool}/", json=body,
                                    headers={"Authorization": f"Bearer {key}"}, timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            envelope = response.json()
            if not envelope.get("ok") or envelope["result"]["status"] != "confirmed":
                raise RuntimeError(f"{tool}: {envelope}")
            ghl_ms = sum(r.get("duration_ms") or 0 for r in sandbox.control.request_log()
                         if not r["path"].startswith("/oauth"))
            totals.append(elapsed)
            own.append(max(0.0, elapsed - ghl_ms))
    return totals, own


def main(args) -> str:
    import requests

    with product_stack("agent_tools", web_workers=1, web_threads=4, webhooks=False) as stack:
        sandbox, base = stack.sandbox, stack.base_url
        from django.db import connection

        from agents.models import ApiKey
        from agents.services import agent_create, api_key_create
        from tenancy.services import organization_create

        owner = bench_owner()
        keys = {}
        people = {}
        for size, seed in ((args.small, 1), (args.big, 2)):
            org = organization_create(name=f"Mirror {size}", owner=owner)
            started = time.monotonic()
            people[size] = people_fill(org, size, seed)
            print(f"mirror {size}: filled in {time.monotonic() - started:.1f} s", flush=True)
            keys[size] = api_key_create(agent=agent_create(organization=org, name="bench"))[1]
        ApiKey.objects.update(rate_limit_per_minute=1_000_000)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE crm_contact")  # what autovacuum does after a bulk load

        session = requests.Session()
        session.trust_env = False
        p95, context_p95 = {}, {}
        for size in (args.small, args.big):
            queries = _read_queries(people[size], args.reads, seed=size)
            _measure_reads(session, base, keys[size], queries[:20])  # warm up
            samples = _measure_reads(session, base, keys[size], queries)
            for tool, values in samples.items():
                print(f"read {tool} @{size}: n={len(values)} p50={statistics.median(values):.1f} ms "
                      f"p95={percentile(values, 0.95):.1f} ms", flush=True)
            p95[size] = percentile([v for values in samples.values() for v in values], 0.95)
            context = _measure_reads(session, base, keys[size], [("get_business_context", {})] * args.contexts)
            values = context["get_business_context"]
            context_p95[size] = percentile(values, 0.95)
            print(f"read get_business_context @{size}: n={len(values)} p50={statistics.median(values):.1f} ms "
                  f"p95={context_p95[size]:.1f} ms", flush=True)

        writer_org = organization_create(name="Writer", owner=owner)
        connect_demo_location(sandbox, organization=writer_org, user=owner)
        writer_key = api_key_create(agent=agent_create(organization=writer_org, name="writer"))[1]
        ApiKey.objects.update(rate_limit_per_minute=1_000_000)
        _measure_writes(session, base, writer_key, sandbox, 2)  # warm up
        totals, own = _measure_writes(session, base, writer_key, sandbox, args.writes)
        print(f"writes: n={len(totals)} total p50={statistics.median(totals):.0f} ms "
              f"p95={percentile(totals, 0.95):.0f} ms; GHL's own time excluded: "
              f"p50={statistics.median(own):.0f} ms "
              f"p95={percentile(own, 0.95):.0f} ms", flush=True)
        print(machine_line(), flush=True)
        return (f"read_p95_ms={max(p95.values()):.1f} growth={p95[args.big] / p95[args.small]:.2f} "
                f"write_p95_ms={percentile(own, 0.95):.0f} context_p95_ms={max(context_p95.values()):.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=150)
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--contexts", type=int, default=40, help="get_business_context calls per size")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--big", type=int, default=100_000)
    arguments = parser.parse_args()
    sys.exit(run_main(lambda: main(arguments)))
