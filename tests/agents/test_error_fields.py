"""An error names the input the caller gave (`field`), also when the record at fault sits inside another
reference: the person of an appointment reference, the contact a deal was named by."""
import pytest

from agents.services import agent_create, api_key_create
from crm.models import Contact

from .test_other_organizations import ours  # noqa: F401  (org A's records)

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(org):
    return api_key_create(agent=agent_create(organization=org, name="Fields"))[1]


@pytest.mark.parametrize("appointment, field", [
    ("Nobody Known 2030-01-08", "appointment"),
    ({"contact": "Nobody Known", "date": "2030-01-08"}, "appointment.contact"),
    ({"contact": "Ann Able", "date": "2030-01-08", "calendar": "No Such Room"}, "appointment.calendar"),
])
def test_an_appointment_references_parts_are_named_as_given(ours, key, call, appointment, field):  # noqa: F811
    status, body = call(key, "cancel_appointment", {"appointment": appointment, "dry_run": True})
    assert status == 404 and body["error"]["code"] == "not_found" and body["error"]["field"] == field, body


def test_a_deal_named_by_an_ambiguous_contact_names_the_opportunity_input(org, ours, key, call):  # noqa: F811
    Contact.objects.create(organization=org, first_name="Ann", last_name="Abel", full_name="Ann Abel",
                           email="abel@a.example")
    status, body = call(key, "move_opportunity", {"opportunity": "Ann", "stage": "Proposal Sent", "dry_run": True})
    assert status == 409 and body["error"]["code"] == "ambiguous", body
    assert body["error"]["field"] == "opportunity"
    assert {c["name"] for c in body["error"]["candidates"]} == {"Ann Able", "Ann Abel"}
