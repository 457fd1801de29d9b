"""`python manage.py ghl_sync contacts --org <slug|id> [--resume]`: run the initial contact pull in the foreground."""
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ghl_integration.models import GhlConnection
from ghl_integration.sync.pull import contacts_initial_pull
from ghl_integration.sync.reconcile import contacts_deletion_sweep, contacts_reconcile
from tenancy.models import Organization


class Command(BaseCommand):
    help = "Sync GHL contacts for one organisation: initial pull (default), reconcile or deletion sweep."

    def add_arguments(self, parser):
        parser.add_argument("object_type", choices=["contacts"])
        parser.add_argument("--org", required=True, help="organisation slug or id")
        parser.add_argument("--resume", action="store_true", help="continue the last unfinished pull from its cursor")
        parser.add_argument("--mode", choices=["pull", "reconcile", "sweep"], default="pull")
        parser.add_argument("--page-size", type=int, default=100)

    def handle(self, *args, **options):
        org_ref = options["org"]
        lookup = {"pk": int(org_ref)} if org_ref.isdigit() else {"slug": org_ref}
        organization = Organization.objects.filter(**lookup).first()
        if organization is None:
            raise CommandError(f"No organisation {org_ref!r}")
        connection = (
            GhlConnection.objects.for_org(organization).filter(status=GhlConnection.Status.ACTIVE)
            .exclude(location_id="").exclude(token_level=GhlConnection.TokenLevel.COMPANY).first()
        )
        if connection is None:
            raise CommandError(f"{organization} has no active GHL location connection")
        if options["mode"] == "reconcile":
            result = contacts_reconcile(connection=connection)
            self.stdout.write(f"reconciled: requests={result.requests} repaired={result.repaired}")
            return
        if options["mode"] == "sweep":
            result = contacts_deletion_sweep(connection=connection)
            self.stdout.write(f"deletion sweep: requests={result.requests} archived={result.repaired_remote}")
            return
        bar = tqdm(unit="contact", desc=f"GHL contacts {connection.location_id}", file=self.stderr)

        def on_page(run):
            if run.progress_total and bar.total != run.progress_total:
                bar.total = run.progress_total
            bar.n = run.progress_done
            bar.refresh()

        try:
            result = contacts_initial_pull(connection=connection, resume=options["resume"],
                                           page_size=options["page_size"], on_page=on_page)
        finally:
            bar.close()
        run = result.run
        self.stdout.write(
            f"{run.status}: {run.progress_done}/{run.progress_total or '?'} created={run.created} "
            f"updated={run.updated} linked={run.linked} unchanged={run.unchanged} failed={run.failed} "
            f"refused={run.refused}"
        )
