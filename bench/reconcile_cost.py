"""Reconciliation cost benchmark: one incremental run after N changes in a location of M contacts.

Starts its own sandbox and a fresh database (PostgreSQL when DATABASE_URL points at it), connects, pulls
every contact, changes ``--changed`` contacts in GHL through the control API with webhook delivery
switched off (so only reconciliation can find them), then runs one `contacts_reconcile` (the service the
15-minute beat task runs). Last line:

    requests=<n> seconds=<s> repaired=<k>

(target: requests ≤ 5 for 50 changes, whatever the number of contacts; all of them repaired).

    python bench/reconcile_cost.py --contacts 10000 --changed 50
"""
import argparse
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
    return run_against_fresh_sandbox("reconcile-cost", run, args)


def run(args, sandbox, location_id: str) -> int:
    from crm.models import Contact, ExternalIdentity
    from ghl_integration.contacts.pull import contacts_initial_pull
    from ghl_integration.contacts.reconcile import contacts_reconcile

    seed_contacts(sandbox, location_id, args.contacts)
    connection = connect_location(sandbox, location_id)
    pull = contacts_initial_pull(connection=connection)
    assert pull.run.status == "succeeded", pull.run.error

    quiet_window(sandbox)  # the pull's requests leave the 10-second window: time the reconciliation alone
    sandbox.control.webhooks(urls=[])  # no webhook reaches the product: reconciliation must find the changes
    every = sandbox.control.objects("contact", location_id=location_id)
    changed = [c["id"] for c in every[:: max(1, len(every) // args.changed)]][: args.changed]
    for i, contact_id in enumerate(changed):
        sandbox.control.change_contact("update", contactId=contact_id, lastName=f"Reconciled{i}")
    sandbox.control.clear_request_log()

    started = time.perf_counter()
    result = contacts_reconcile(connection=connection)
    seconds = time.perf_counter() - started

    requests = len(api_requests(sandbox))
    links = dict(ExternalIdentity.objects.filter(account_id=location_id, external_id__in=changed)
                 .values_list("external_id", "object_id"))
    names = dict(Contact.objects.filter(pk__in=links.values()).values_list("pk", "last_name"))
    repaired = sum(1 for i, ext in enumerate(changed) if names.get(links.get(ext)) == f"Reconciled{i}")
    print(f"status={result.run.status} contacts={args.contacts} changed={len(changed)} "
          f"repaired_by_run={result.repaired} counts={result.counts}")
    print(f"requests={requests} seconds={seconds:.2f} repaired={repaired}")
    return 0 if repaired == len(changed) and requests <= 5 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=50)
    sys.exit(main(parser.parse_args()))
