"""The contact sync section of the owner's GHL settings page: conflict/delete policy and field mapping forms.

Owner/admin only (`org_manager_required`), POST + CSRF; each view validates with a form, calls one service
and redirects back to the settings page. Invalid input is answered 400 with the settings page, the errors next
to the fields and the input kept.
"""
import logging

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from crm.sync.models import DataType, Direction
from tenancy.permissions import org_manager_required

from .client import GhlApiError
from .connections import ConnectionInactive
from .contacts.outbound import DELETE_POLICIES
from .contacts.shape import STANDARD_CONTACT_FIELDS
from .selectors import connection_current_for_org
from .services.sync_settings import (
    CONNECTION_POLICIES,
    connection_custom_fields_refresh,
    connection_sync_policy_set,
    field_mapping_remove,
    field_mapping_set,
)

logger = logging.getLogger(__name__)

POLICY_LABELS = {"remote_wins": "GoHighLevel wins", "local_wins": "AgentLevel wins",
                 "newest_wins": "Most recent change wins"}
DELETE_LABELS = {"keep": "Keep the contact in GoHighLevel", "delete": "Delete it in GoHighLevel too"}


class SyncPolicyForm(forms.Form):
    conflict_policy = forms.ChoiceField(choices=[(p, POLICY_LABELS[p]) for p in CONNECTION_POLICIES])
    delete_policy = forms.ChoiceField(choices=[(p, DELETE_LABELS[p]) for p in DELETE_POLICIES])


class FieldMappingForm(forms.Form):
    remote_key = forms.CharField(max_length=128)
    local_field = forms.CharField(max_length=128)
    data_type = forms.ChoiceField(choices=DataType.choices)
    direction = forms.ChoiceField(choices=Direction.choices, initial=Direction.BOTH)
    is_active = forms.BooleanField(required=False, initial=True)


def location_connection_or_message(request):
    """The organisation's location connection, or None with a message saying to connect first (the settings
    forms of every kind use it)."""
    connection = connection_current_for_org(organization=request.organization)
    if connection is None or not connection.location_id:
        messages.error(request, "Connect GoHighLevel first.")
        return None
    return connection


def settings_page_with_errors(request, form, name: str):
    """The settings page again, ``form``'s errors beside its fields and what was typed kept."""
    from .oauth.views import settings_page_render

    return settings_page_render(request, extra={name: form}, status=400)


class FieldMappingRemoveForm(forms.Form):
    remote_key = forms.CharField(max_length=128)


@require_POST
@org_manager_required
def sync_policy_update(request):
    connection = location_connection_or_message(request)
    if connection is None:
        return redirect("ghl_settings", org_id=request.organization.pk)
    form = SyncPolicyForm(request.POST)
    if not form.is_valid():
        return settings_page_with_errors(request, form, "policy_form")
    connection_sync_policy_set(connection=connection, **form.cleaned_data)
    messages.success(request, "Sync policy saved.")
    return redirect("ghl_settings", org_id=request.organization.pk)


@require_POST
@org_manager_required
def field_mapping_update(request):
    connection = location_connection_or_message(request)
    if connection is None:
        return redirect("ghl_settings", org_id=request.organization.pk)
    form = FieldMappingForm(request.POST)
    change = None
    if form.is_valid():
        try:
            change = field_mapping_set(connection=connection, **form.cleaned_data)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
    if change is None:
        return settings_page_with_errors(request, form, "mapping_form")
    messages.success(request, f"Mapping of {form.cleaned_data['remote_key']} saved; contacts are being updated "
                              "to follow it.")
    for warning in change.warnings:
        messages.warning(request, warning)
    return redirect("ghl_settings", org_id=request.organization.pk)


@require_POST
@org_manager_required
def field_mapping_remove_action(request):
    """“Reset to default” (a GHL standard field) or “Delete” (a custom field) of one mapping row."""
    connection = location_connection_or_message(request)
    if connection is None:
        return redirect("ghl_settings", org_id=request.organization.pk)
    form = FieldMappingRemoveForm(request.POST)
    if form.is_valid():
        remote_key = form.cleaned_data["remote_key"]
        try:
            change = field_mapping_remove(connection=connection, remote_key=remote_key)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{remote_key} is back to its default mapping." if remote_key in
                             STANDARD_CONTACT_FIELDS else f"{remote_key} is no longer mapped.")
            for warning in change.warnings:
                messages.warning(request, warning)
    else:
        messages.error(request, "Choose the mapping to remove.")
    return redirect("ghl_settings", org_id=request.organization.pk)


@require_POST
@org_manager_required
def custom_fields_refresh(request):
    connection = location_connection_or_message(request)
    if connection is not None:
        try:
            fields = connection_custom_fields_refresh(connection=connection)
        except (GhlApiError, ConnectionInactive) as exc:
            logger.warning("ghl.sync.custom-fields-failed", extra={"connection_id": connection.pk, "error": str(exc)})
            messages.error(request, "GoHighLevel did not list its custom fields. Please try again shortly.")
        else:
            messages.success(request, f"{len(fields)} custom fields loaded from GoHighLevel.")
    return redirect("ghl_settings", org_id=request.organization.pk)
