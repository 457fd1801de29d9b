"""The owner's contact pages: list and search, detail, create and edit, archive and restore.

Members read; owners and admins write. Every write goes through `crm.services.contacts`, so it is validated
once and reaches the connected account through the outbox like any other local change."""
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenancy.permissions import org_member_required

from .contact_forms import ContactForm
from .models import Contact
from .selectors.contact_custom_fields import contact_custom_field_definitions
from .selectors.contact_pages import contact_file, contact_search
from .services.contacts import contact_archive, contact_create, contact_unarchive, contact_update

READ_ONLY_MESSAGE = "Members can read contacts; only an owner or admin of this organization can change them."


def _require_manager(request) -> None:
    if not request.membership.can_manage:
        raise PermissionDenied(READ_ONLY_MESSAGE)


def _page_number(request) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _contact_or_404(request, contact_id: int) -> Contact:
    contact = Contact.objects.for_org(request.organization).filter(pk=contact_id).first()
    if contact is None:
        raise Http404("No such contact")
    return contact


@require_GET
@org_member_required
def contact_list_page(request):
    archived = request.GET.get("archived") == "1"
    page = contact_search(organization=request.organization, query=request.GET.get("q", "").strip(),
                          page=_page_number(request), archived=archived, tag=request.GET.get("tag", ""))
    # What the pager and the tag links keep: the search, the tag and which list (a page number is theirs).
    kept = {key: value for key, value in (("q", page.query), ("tag", page.tag), ("archived", "1" if archived else ""))
            if value}
    return render(request, "crm/contacts/list.html", {
        "organization": request.organization, "page": page, "archived": archived,
        "kept_query": urlencode(kept), "untagged_query": urlencode({k: v for k, v in kept.items() if k != "tag"}),
        "can_manage": request.membership.can_manage,
        "rows": [(contact, page.states.get(contact.pk)) for contact in page.contacts],
    })


@require_GET
@org_member_required
def contact_detail_page(request, contact_id: int):
    file = contact_file(organization=request.organization, contact_id=contact_id)
    if file is None:
        raise Http404("No such contact")
    return render(request, "crm/contacts/detail.html", {
        "organization": request.organization, "file": file, "contact": file.contact,
        "can_manage": request.membership.can_manage, "custom_field_definitions": file.definitions,
    })


@require_http_methods(["GET", "POST"])
@org_member_required
def contact_create_page(request):
    _require_manager(request)
    form = ContactForm(request.POST or None,
                       custom_fields=contact_custom_field_definitions(organization=request.organization))
    if request.method == "POST" and form.is_valid():
        try:
            contact = contact_create(organization=request.organization, **form.service_fields(only_changed=False))
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"{contact} was added.")
            return redirect("contact_detail", org_id=request.organization.pk, contact_id=contact.pk)
    return render(request, "crm/contacts/form.html", {
        "organization": request.organization, "form": form, "contact": None,
    }, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@org_member_required
def contact_edit_page(request, contact_id: int):
    _require_manager(request)
    contact = _contact_or_404(request, contact_id)
    form = ContactForm(request.POST or None, contact=contact,
                       custom_fields=contact_custom_field_definitions(organization=request.organization))
    if request.method == "POST" and form.is_valid():
        try:
            contact, changed = contact_update(contact=contact, **form.service_fields(only_changed=True))
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"{contact} was saved." if changed else "Nothing was changed.")
            return redirect("contact_detail", org_id=request.organization.pk, contact_id=contact.pk)
    return render(request, "crm/contacts/form.html", {
        "organization": request.organization, "form": form, "contact": contact,
    }, status=400 if form.errors else 200)


@require_POST
@org_member_required
def contact_archive_action(request, contact_id: int):
    _require_manager(request)
    contact = contact_archive(contact=_contact_or_404(request, contact_id))
    messages.success(request, f"{contact} was archived. It stays here and can be restored.")
    return redirect("contact_detail", org_id=request.organization.pk, contact_id=contact.pk)


@require_POST
@org_member_required
def contact_restore_action(request, contact_id: int):
    _require_manager(request)
    contact = contact_unarchive(contact=_contact_or_404(request, contact_id))
    messages.success(request, f"{contact} was restored.")
    return redirect("contact_detail", org_id=request.organization.pk, contact_id=contact.pk)
