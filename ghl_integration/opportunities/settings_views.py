"""The opportunity sync section of the owner's GHL settings page: the conflict policy for deals and the mapping
of GHL's opportunity custom fields.

Owner/admin only (`org_manager_required`), POST + CSRF; each view validates with a form, calls one service and
redirects back. Invalid input is answered 400 with the settings page, the errors beside the fields, the input
kept (the same shape as the contact section, `ghl_integration/settings_views.py`).
"""
import logging

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from crm.sync.conflict import conflict_policy_set
from crm.sync.kinds import OPPORTUNITY
from crm.sync.models import DataType, Direction
from tenancy.permissions import org_manager_required

from ..client import GhlApiError
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..services.sync_settings import CONNECTION_POLICIES
from ..settings_views import POLICY_LABELS, location_connection_or_message, settings_page_with_errors
from .mapping import (
    PROVIDER,
    opportunity_field_mapping_remove,
    opportunity_field_mapping_set,
    opportunity_mapping_refresh,
)

logger = logging.getLogger(__name__)


class OpportunityPolicyForm(forms.Form):
    opportunity_conflict_policy = forms.ChoiceField(choices=[(p, POLICY_LABELS[p]) for p in CONNECTION_POLICIES])


class OpportunityMappingForm(forms.Form):
    remote_key = forms.CharField(max_length=128)
    local_field = forms.CharField(max_length=128)
    data_type = forms.ChoiceField(choices=DataType.choices)
    direction = forms.ChoiceField(choices=Direction.choices, initial=Direction.BOTH)
    is_active = forms.BooleanField(required=False, initial=True)


class OpportunityMappingRemoveForm(forms.Form):
    remote_key = forms.CharField(max_length=128)


def _back(request):
    return redirect("ghl_settings", org_id=request.organization.pk)


@require_POST
@org_manager_required
def opportunity_policy_update(request):
    connection = location_connection_or_message(request)
    if connection is None:
        return _back(request)
    form = OpportunityPolicyForm(request.POST)
    if not form.is_valid():
        return settings_page_with_errors(request, form, "opportunity_policy_form")
    conflict_policy_set(organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                        field="*", policy=form.cleaned_data["opportunity_conflict_policy"], object_type=OPPORTUNITY)
    messages.success(request, "Opportunity conflict policy saved.")
    return _back(request)


@require_POST
@org_manager_required
def opportunity_mapping_update(request):
    connection = location_connection_or_message(request)
    if connection is None:
        return _back(request)
    form = OpportunityMappingForm(request.POST)
    saved = False
    if form.is_valid():
        try:
            opportunity_field_mapping_set(connection=connection, **form.cleaned_data)
            saved = True
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
    if not saved:
        return settings_page_with_errors(request, form, "opportunity_mapping_form")
    messages.success(request, f"Mapping of {form.cleaned_data['remote_key']} saved; opportunities are being updated "
                              "to follow it.")
    return _back(request)


@require_POST
@org_manager_required
def opportunity_mapping_remove(request):
    """“Switch off” one opportunity custom field: it is no longer synced (and stays off)."""
    connection = location_connection_or_message(request)
    if connection is None:
        return _back(request)
    form = OpportunityMappingRemoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the mapping to switch off.")
        return _back(request)
    try:
        opportunity_field_mapping_remove(connection=connection, remote_key=form.cleaned_data["remote_key"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{form.cleaned_data['remote_key']} is no longer synced.")
    return _back(request)


@require_POST
@org_manager_required
def opportunity_custom_fields_refresh(request):
    connection = location_connection_or_message(request)
    if connection is not None:
        try:
            with GhlInstallation(connection).get_client() as client:
                added = opportunity_mapping_refresh(connection=connection, client=client)
        except (GhlApiError, ConnectionInactive) as exc:
            logger.warning("ghl.opportunities.custom-fields-failed",
                           extra={"connection_id": connection.pk, "error": str(exc)})
            messages.error(request, "GoHighLevel did not list its opportunity custom fields. Please try again shortly.")
        else:
            messages.success(request, f"Opportunity custom fields loaded from GoHighLevel ({added} new).")
    return _back(request)
