"""The owner's calendar page: today's and upcoming appointments per calendar, by day, with contact and status;
owners and admins mark an appointment that has started as showed or no-show (pushed to the calendar system like
any local change, `crm.services.appointment_changes`)."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from tenancy.permissions import org_member_required

from .models import Appointment
from .selectors.calendars import appointments_upcoming_by_calendar
from .services.appointment_changes import appointment_change_details

UPCOMING_DAYS = 14
MAX_DAYS = 60
MARKS = {"showed": "showed", "noshow": "a no-show"}
READ_ONLY_MESSAGE = "Members can read the calendar; only an owner or admin of this organization can mark attendance."


def _days(request) -> tuple[int, str | None]:
    raw = request.GET.get("days", "").strip()
    if not raw:
        return UPCOMING_DAYS, None
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_DAYS:
        return UPCOMING_DAYS, f"“days” must be a whole number from 1 to {MAX_DAYS}; showing {UPCOMING_DAYS}."
    return days, None


@require_GET
@org_member_required
def calendar_appointments(request):
    """Any member may read it; others get 404 (no hint that the organisation exists)."""
    days, error = _days(request)
    agendas = appointments_upcoming_by_calendar(organization=request.organization, days=days)
    return render(request, "calendars/appointments.html", {
        "organization": request.organization, "agendas": agendas, "upcoming_days": days, "days_error": error,
        "day_choices": (7, 14, 30, 60), "can_manage": request.membership.can_manage, "marks": MARKS,
    }, status=400 if error else 200)


@require_POST
@org_member_required
def appointment_mark_attendance(request, appointment_id: int):
    if not request.membership.can_manage:
        raise PermissionDenied(READ_ONLY_MESSAGE)
    appt = (Appointment.objects.for_org(request.organization).select_related("contact")
            .filter(pk=appointment_id, is_archived=False).first())
    if appt is None:
        raise Http404("No such appointment")
    back = reverse("calendar_appointments", kwargs={"org_id": request.organization.pk}) + f"#appointment-{appt.pk}"
    status = request.POST.get("status", "")
    if status not in MARKS:
        messages.error(request, f"Mark an appointment as one of: {', '.join(MARKS.values())}.")
        return redirect(back)
    if appt.starts_at > timezone.now():
        messages.error(request, f"{appt.contact}'s appointment has not started yet; mark it once it has.")
        return redirect(back)
    try:
        appt, changed = appointment_change_details(appointment=appt, status=status)
    except ValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
        return redirect(back)
    messages.success(request, f"{appt.contact} marked {MARKS[status]}." if changed else "Nothing was changed.")
    return redirect(back)
