from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Appointment, Calendar, Contact
from crm.selectors.calendars import appointments_upcoming_by_calendar
from tenancy.services import user_create

NY, LA = ZoneInfo("America/New_York"), ZoneInfo("America/Los_Angeles")


@pytest.fixture
def diary(org_factory):
    org = org_factory(name="Smile")
    soon = (timezone.now() + timedelta(days=2)).astimezone(NY).replace(hour=23, minute=30, second=0, microsecond=0)
    ny = Calendar.objects.create(organization=org, name="Cleanings", timezone="America/New_York")
    la = Calendar.objects.create(organization=org, name="West", timezone="America/Los_Angeles")
    ann = Contact.objects.create(organization=org, first_name="Ann", full_name="Ann Lee")
    bob = Contact.objects.create(organization=org, first_name="Bob", full_name="Bob Ray")
    rows = [
        (ny, ann, soon, "confirmed"), (ny, bob, soon + timedelta(hours=1), "cancelled"),  # 00:30 next local day
        (la, bob, soon, "new"), (ny, ann, timezone.now() - timedelta(days=1), "showed"),  # past: not shown
        (ny, ann, timezone.now() + timedelta(days=30), "confirmed"),  # beyond the window
    ]
    for cal, contact, start, status in rows:
        Appointment.objects.create(organization=org, calendar=cal, contact=contact, starts_at=start,
                                   ends_at=start + timedelta(minutes=30), status=status, title=f"{contact} visit")
    other = org_factory(name="Other")
    Calendar.objects.create(organization=other, name="Not mine", timezone="UTC")
    return org, soon


def test_upcoming_by_calendar_and_local_day(diary):
    org, soon = diary
    agendas = {a.calendar.name: a for a in appointments_upcoming_by_calendar(organization=org)}

    assert list(agendas) == ["Cleanings", "West"]
    ny_days = agendas["Cleanings"].days
    assert [d.day for d in ny_days] == [soon.date(), soon.date() + timedelta(days=1)]
    assert [[a.status for a in d.appointments] for d in ny_days] == [["confirmed"], ["cancelled"]]
    west = agendas["West"].days
    assert west[0].appointments[0].local_start == soon.astimezone(LA) and west[0].day == soon.astimezone(LA).date()


def test_page_shows_times_in_each_calendars_zone(client, diary):
    org, soon = diary
    client.force_login(org.memberships.get().user)

    page = client.get(reverse("calendar_appointments", kwargs={"org_id": org.pk}))

    html = page.content.decode()
    assert page.status_code == 200 and "Not mine" not in html
    assert "23:30–00:00" in html and "Ann Lee" in html and "Cancelled" in html
    assert soon.astimezone(LA).strftime("%H:%M") + "–" in html  # the same instant in Los Angeles' zone
    assert f'datetime="{soon.isoformat()}"' in html


def test_page_is_for_members_only(client, diary):
    org, _ = diary
    client.force_login(user_create(username="stranger", password="pw-stranger-123456"))
    assert client.get(reverse("calendar_appointments", kwargs={"org_id": org.pk})).status_code == 404
    client.logout()
    assert client.get(reverse("calendar_appointments", kwargs={"org_id": org.pk})).status_code == 302
