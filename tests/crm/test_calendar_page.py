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


@pytest.fixture
def today(org_factory):
    """A calendar in New York with an appointment that started 20 minutes ago and one in two days."""
    org = org_factory(name="Front desk")
    cal = Calendar.objects.create(organization=org, name="Cleanings", timezone="America/New_York")
    ann = Contact.objects.create(organization=org, first_name="Ann", full_name="Ann Lee")
    now = timezone.now()
    started = Appointment.objects.create(organization=org, calendar=cal, contact=ann, status="confirmed",
                                         starts_at=now - timedelta(minutes=20), ends_at=now + timedelta(minutes=10))
    later = Appointment.objects.create(organization=org, calendar=cal, contact=ann, status="confirmed",
                                       starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, minutes=30))
    return org, started, later


def _mark(client, org, appt, status):
    return client.post(reverse("appointment_mark_attendance", kwargs={"org_id": org.pk, "appointment_id": appt.pk}),
                       {"status": status}, follow=True)


def test_an_owner_marks_a_started_appointment_showed_or_no_show_and_it_is_queued_for_ghl(client, today):
    from crm.models import ExternalIdentity
    from crm.sync.models import OutboxEntry

    org, started, later = today
    ExternalIdentity.objects.create(organization=org, provider="ghl", account_id="loc-1", external_id="ev-1",
                                    content_type_id=_appointment_type(), object_id=started.pk)
    client.force_login(org.memberships.get().user)
    html = client.get(reverse("calendar_appointments", kwargs={"org_id": org.pk})).content.decode()
    # only the started one offers the buttons; the contact links to its page
    assert html.count("Mark a no-show") == 1 and f"/orgs/{org.pk}/contacts/{started.contact_id}/" in html

    page = _mark(client, org, started, "noshow")

    assert "Ann Lee marked a no-show." in page.content.decode()
    started.refresh_from_db()
    assert started.status == "noshow"
    entry = OutboxEntry.objects.get(object_id=started.pk, content_type_id=_appointment_type())
    assert (entry.account_id, entry.changed_fields) == ("loc-1", ["status"])


def test_marking_refuses_what_cannot_be_marked_with_a_reason(client, today):
    org, started, later = today
    client.force_login(org.memberships.get().user)

    assert "has not started yet" in _mark(client, org, later, "showed").content.decode()
    assert "Mark an appointment as one of" in _mark(client, org, started, "cancelled").content.decode()
    started.refresh_from_db()
    later.refresh_from_db()
    assert (started.status, later.status) == ("confirmed", "confirmed")


def test_members_read_the_calendar_but_cannot_mark_and_outsiders_see_nothing(client, today, org_factory):
    from tenancy.services import membership_add

    org, started, _ = today
    member = user_create(username="desk", password="pw-desk-123456")
    membership_add(organization=org, user=member)
    client.force_login(member)
    html = client.get(reverse("calendar_appointments", kwargs={"org_id": org.pk})).content.decode()
    assert "Ann Lee" in html and "Mark a no-show" not in html
    assert _mark(client, org, started, "showed").status_code == 403
    other = org_factory(name="Other")
    client.force_login(other.memberships.get().user)
    assert _mark(client, org, started, "showed").status_code == 404


def test_the_range_can_be_chosen_and_a_bad_one_is_explained(client, diary):
    org, _ = diary
    client.force_login(org.memberships.get().user)
    url = reverse("calendar_appointments", kwargs={"org_id": org.pk})

    assert client.get(url).content.decode().count('class="appointment') == 3
    assert client.get(url, {"days": "45"}).content.decode().count('class="appointment') == 4
    bad = client.get(url, {"days": "a year"})
    assert bad.status_code == 400 and "from 1 to 60" in bad.content.decode()


def _appointment_type() -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Appointment).pk
