"""Contact sync on the owner's settings page: live progress (polled JSON) and the resync button."""
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from crm.sync.locks import SyncBusy
from tenancy.permissions import org_manager_required

from .connections import ConnectionInactive
from .contacts.runs import contact_sync_status as contact_sync_status_read
from .contacts.runs import sync_run_current_pull, sync_runs_recent
from .contacts.services import contacts_resync_request
from .selectors import connection_current_for_org

RUN_COUNTS = ("created", "updated", "linked", "archived", "conflicted", "failed", "unchanged", "refused")


def _run_json(run) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.pk, "kind": run.kind, "kind_label": run.get_kind_display(), "status": run.status,
        "started_at": run.started_at.isoformat(), "finished_at": run.finished_at and run.finished_at.isoformat(),
        "done": run.progress_done, "total": run.progress_total, "percent": run.percent,
        "counts": {name: getattr(run, name) for name in RUN_COUNTS}, "error": run.error,
    }


@require_GET
@org_manager_required
def contact_sync_status(request):
    """``{"pull": run|null, "runs": [run, ...]}`` for the connection's contact sync (polled by the page)."""
    connection = connection_current_for_org(organization=request.organization)
    if connection is None:
        return JsonResponse({"pull": None, "runs": []})
    return JsonResponse({
        "pull": _run_json(sync_run_current_pull(connection=connection)),
        "runs": [_run_json(r) for r in sync_runs_recent(connection=connection)],
    })


@require_GET
@org_manager_required
def contact_sync_status_card(request):
    """The contact sync card itself (the page swaps it in while ``live``): one rendering for the first view and
    every update, so figures, labels and their wording never differ."""
    connection = connection_current_for_org(organization=request.organization)
    context = {"organization": request.organization, "connection": connection,
               **(contact_sync_status_read(connection=connection) if connection else {})}
    return render(request, "ghl_integration/_contact_sync_status.html", context)


@require_POST
@org_manager_required
def contact_sync_resync(request):
    connection = connection_current_for_org(organization=request.organization)
    try:
        if connection is None:
            raise ConnectionInactive("not connected")
        contacts_resync_request(connection=connection)
    except ConnectionInactive:
        messages.error(request, "Connect GoHighLevel first: contacts can only be synced from an active connection.")
    except SyncBusy:
        messages.info(request, "A contact pull is already running; its progress shows below.")
    else:
        messages.success(request, "Contact resync started. Progress shows below.")
    return redirect("ghl_settings", org_id=request.organization.pk)
