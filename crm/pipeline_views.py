"""The owner's pipeline board: a pipeline's stages as columns (count and total value each), cards with name,
value, contact and assignee, a status filter. Owners and admins move a card with its stage menu (keyboard) or by
dragging it; both post the same form, which makes the same stage move as the agents' `move_opportunity`
(`crm.services.opportunities.opportunity_change`: saved, queued for GoHighLevel, announced)."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from tenancy.permissions import org_member_required

from .currency import currency_for
from .models import Opportunity, PipelineStage
from .selectors.pipelines import STATUS_FILTERS, pipeline_board, pipelines_for_board
from .services.opportunities import opportunity_change

READ_ONLY_MESSAGE = "Members can read the board; only an owner or admin of this organization can move deals."


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_GET
@org_member_required
def pipeline_board_page(request):
    pipelines = pipelines_for_board(organization=request.organization)
    status = request.GET.get("status", "open")
    error = None
    if status not in STATUS_FILTERS:
        error, status = f"“status” must be one of {', '.join(STATUS_FILTERS)}; showing open deals.", "open"
    pipeline = pipelines[0] if pipelines else None
    wanted = request.GET.get("pipeline", "").strip()
    if wanted:
        pipeline = next((p for p in pipelines if str(p.pk) == wanted), None)
        if pipeline is None:
            error, pipeline = "There is no such pipeline; showing the first.", pipelines[0] if pipelines else None
    columns = pipeline_board(organization=request.organization, pipeline=pipeline, status=status) if pipeline else []
    return render(request, "crm/pipelines/board.html", {
        "organization": request.organization, "pipelines": pipelines, "pipeline": pipeline, "columns": columns,
        "status": status, "statuses": STATUS_FILTERS, "error": error, "can_manage": request.membership.can_manage,
        "live_stages": [c.stage for c in columns if not c.stage.is_archived],
        "currency": currency_for(request.organization),
    }, status=400 if error else 200)


@require_POST
@org_member_required
def opportunity_move_action(request, opportunity_id: int):
    if not request.membership.can_manage:
        raise PermissionDenied(READ_ONLY_MESSAGE)
    opp = (Opportunity.objects.for_org(request.organization).select_related("stage", "pipeline")
           .filter(pk=opportunity_id, is_archived=False).first())
    if opp is None:
        raise Http404("No such opportunity")
    back = reverse("pipeline_board", kwargs={"org_id": request.organization.pk}) + "?" + urlencode(
        {"pipeline": opp.pipeline_id, "status": request.POST.get("status_filter") or "open"})
    stage = (PipelineStage.objects.for_org(request.organization)
             .filter(pk=request.POST.get("stage", "0") if request.POST.get("stage", "").isdigit() else 0,
                     is_archived=False).first())
    if stage is None:
        return _answer(request, back, 400, f"Pick one of the pipeline's stages for {opp.name}.")
    try:
        changes = opportunity_change(opportunity=opp, stage=stage)
    except ValidationError as exc:
        return _answer(request, back, 400, " ".join(m for ms in exc.message_dict.values() for m in ms))
    if not changes:
        return _answer(request, back, 200, f"{opp.name} is already in {stage.name}.")
    move = changes["stage"]
    return _answer(request, back, 200, f"Moved {opp.name} from {move.old_shown} to {move.new_shown}; "
                                       "GoHighLevel gets it in a moment.", ok=True)


def _answer(request, back: str, status: int, message: str, *, ok: bool = False):
    if _wants_json(request):
        return JsonResponse({"ok": status < 400, "message": message}, status=status)
    (messages.success if ok or status < 400 else messages.error)(request, message)
    return redirect(back + "#board")
