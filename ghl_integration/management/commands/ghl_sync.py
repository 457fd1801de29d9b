"""`python manage.py ghl_sync contacts --org <slug|id> [--resume] [--mode pull|reconcile|sweep]`: sync one
organisation's GHL contacts in the foreground (the pull with a progress bar). Exits non-zero, with the reason,
when the run does not succeed."""
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from crm.sync.locks import SyncBusy
from crm.sync.models import SyncRun
from ghl_integration.client.contacts import SEARCH_MAX_PAGE_LIMIT
from ghl_integration.contacts.pull import PULL_PAGE_SIZE, contacts_initial_pull
from ghl_integration.contacts.reconcile import contacts_deletion_sweep, contacts_reconcile
from ghl_integration.models import GhlConnection
from tenancy.models import Organization


class Command(BaseCommand):
    help = "Sync GHL contacts for one organisation: initial pull (default), reconcile or deletion sweep."

    def add_arguments(self, parser):
        parser.add_argument("object_type", choices=["contacts"])
        parser.add_argument("--org", required=True, help="organisation slug or id")
        parser.add_argument("--resume", action="store_true", help="continue the last unfinished pull from its cursor")
        parser.add_argument("--mode", choices=["pull", "reconcile", "sweep"], default="pull")
        parser.add_argument("--page-size", type=int, default=PULL_PAGE_SIZE,
                            help=f"contacts per request of the pull, 1 to {SEARCH_MAX_PAGE_LIMIT}")

    def handle(self, *args, **options):
        mode, page_size = options["mode"], options["page_size"]
        if not 1 <= page_size <= SEARCH_MAX_PAGE_LIMIT:
            raise CommandError(f"--page-size must be between 1 and {SEARCH_MAX_PAGE_LIMIT} (GHL's limit), "
                               f"not {page_size}")
        if options["resume"] and mode != "pull":
            raise CommandError("--resume continues an initial pull; it does not apply to --mode " + mode)
        connection = self._connection(options["org"])
        try:
            if mode == "reconcile":
                self._reconcile(connection)
            elif mode == "sweep":
                self._sweep(connection)
            else:
                self._pull(connection, resume=options["resume"], page_size=page_size)
        except CommandError:
            raise
        except SyncBusy as exc:
            raise CommandError(f"{exc}; try again once it has finished") from exc
        except Exception as exc:  # the run is recorded as failed; say so and exit non-zero
            hint = " (`--resume` continues from the last written page)" if mode == "pull" else ""
            raise CommandError(f"{mode} failed: {type(exc).__name__}: {exc}{hint}") from exc

    def _reconcile(self, connection: GhlConnection) -> None:
        result = contacts_reconcile(connection=connection, budget_seconds=None)  # an operator waits for it
        if result.run is None:
            raise CommandError("nothing to reconcile: this connection has no successful initial pull yet "
                               "(run `ghl_sync contacts` first)")
        self.stdout.write(f"reconcile {result.run.status}: requests={result.requests} repaired={result.repaired}")
        self._fail_unless_succeeded(result.run)

    def _sweep(self, connection: GhlConnection) -> None:
        result = contacts_deletion_sweep(connection=connection, budget_seconds=None)
        self.stdout.write(f"deletion sweep {result.run.status}: requests={result.requests} "
                          f"archived={result.repaired_remote}")
        self._fail_unless_succeeded(result.run)

    def _connection(self, org_ref: str) -> GhlConnection:
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
        return connection

    def _pull(self, connection: GhlConnection, *, resume: bool, page_size: int) -> None:
        bar = tqdm(unit="contact", desc=f"GHL contacts {connection.location_id}", file=self.stderr)

        def on_page(run):
            if run.progress_total and bar.total != run.progress_total:
                bar.total = run.progress_total
            bar.n = run.progress_done
            bar.refresh()

        try:
            run = contacts_initial_pull(connection=connection, resume=resume, page_size=page_size,
                                        on_page=on_page).run
        finally:
            bar.close()
        self.stdout.write(
            f"{run.status}: {run.progress_done}/{run.progress_total or '?'} created={run.created} "
            f"updated={run.updated} linked={run.linked} unchanged={run.unchanged} failed={run.failed} "
            f"refused={run.refused}"
        )
        self._fail_unless_succeeded(run)

    def _fail_unless_succeeded(self, run: SyncRun) -> None:
        if run.status != SyncRun.Status.SUCCEEDED:
            raise CommandError(f"run {run.pk} {run.status}: {run.error or 'no reason recorded'}")
