"""The owner's conflicts and errors inbox (`/orgs/<id>/sync/inbox/`): owner/admin only."""
from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from tenancy.permissions import org_manager_required

from .models import Contact
from .selectors.contact_custom_fields import contact_custom_field_definitions, contact_field_label
from .selectors.sync_inbox import sync_inbox
from .sync.models import OutboxEntry, SyncConflict
from .sync.outbox import outbox_retry_now
from .sync.overrides import sync_conflict_override


@require_GET
@org_manager_required
def sync_inbox_page(request):
    return render(request, "crm/sync_inbox.html", {
        "organization": request.organization, "inbox": sync_inbox(organization=request.organization),
        "custom_field_definitions": contact_custom_field_definitions(organization=request.organization)})


@require_POST
@org_manager_required
def sync_conflict_resolve(request, conflict_id: int):
    """“Keep ours” (side=local: our value is written and pushed) or “keep GHL's” (side=remote)."""
    side = request.POST.get("side", "")
    conflict = SyncConflict.objects.for_org(request.organization).filter(
        pk=conflict_id, content_type=ContentType.objects.get_for_model(Contact)).first()
    if conflict is None:
        raise Http404("No such conflict")
    if side not in (SyncConflict.Decision.LOCAL, SyncConflict.Decision.REMOTE):
        messages.error(request, "Choose which value to keep.")
    else:
        conflict = sync_conflict_override(conflict=conflict, side=side, user=request.user)
        kept = "ours" if side == SyncConflict.Decision.LOCAL else f"{conflict.provider.upper()}'s"
        label = contact_field_label(conflict.field,
                                    contact_custom_field_definitions(organization=request.organization))
        messages.success(request, f"{label} of {conflict.local_object}: kept {kept}.")
    return redirect("sync_inbox", org_id=request.organization.pk)


@require_POST
@org_manager_required
def sync_push_retry(request, entry_id: int):
    entry = OutboxEntry.objects.for_org(request.organization).filter(pk=entry_id).first()
    if entry is None:
        raise Http404("No such change")
    outbox_retry_now(entry=entry)
    messages.success(request, "The change will be sent again now.")
    return redirect("sync_inbox", org_id=request.organization.pk)
