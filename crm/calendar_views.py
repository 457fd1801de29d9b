"""The owner's calendar page: upcoming appointments per calendar, by day, with contact and status."""
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from tenancy.selectors import membership_get

from .selectors.calendars import appointments_upcoming_by_calendar

UPCOMING_DAYS = 14


@login_required
def calendar_appointments(request, org_id: int):
    """Any member of the organisation may read it; others get 404 (no hint that the organisation exists)."""
    membership = membership_get(user=request.user, organization_id=org_id)
    if membership is None:
        raise Http404("No such organization")
    agendas = appointments_upcoming_by_calendar(organization=membership.organization, days=UPCOMING_DAYS)
    return render(request, "calendars/appointments.html", {
        "organization": membership.organization, "agendas": agendas, "upcoming_days": UPCOMING_DAYS})
