"""The settings page's “Changes made here → GoHighLevel” section: one outbound switch per kind (owner/admin,
POST + CSRF; `services.outbound_switches` does the work)."""
from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from crm.sync.kinds import CONTACT, OPPORTUNITY
from tenancy.permissions import org_manager_required

from .services.outbound_switches import connection_outbound_set
from .settings_views import location_connection_or_message
from .sync.targets import OUTBOUND_SWITCHES

KIND_LABELS = {CONTACT: "Contacts", OPPORTUNITY: "Opportunities"}


class OutboundSwitchesForm(forms.Form):
    # an unticked box is absent from the POST: that kind is switched off
    outbound_contacts = forms.BooleanField(required=False)
    outbound_opportunities = forms.BooleanField(required=False)


@require_POST
@org_manager_required
def outbound_switches_update(request):
    connection = location_connection_or_message(request)
    if connection is not None:
        form = OutboundSwitchesForm(request.POST)
        form.is_valid()  # two booleans: any input is one
        states, queued = [], 0
        for object_type, key in OUTBOUND_SWITCHES.items():
            enabled = form.cleaned_data[key]
            queued += connection_outbound_set(connection=connection, object_type=object_type, enabled=enabled)
            states.append(f"{KIND_LABELS[object_type].lower()} {'on' if enabled else 'off'}")
        note = f"; {queued} changed while off queued for GoHighLevel" if queued else ""
        messages.success(request, f"Sending changes to GoHighLevel: {', '.join(states)}{note}.")
    return redirect("ghl_settings", org_id=request.organization.pk)
