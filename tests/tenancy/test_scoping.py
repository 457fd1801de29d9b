import pytest

from crm.models import Contact
from crm.services.contacts import contact_create
from tenancy.services import user_create


@pytest.mark.django_db
def test_for_org_returns_only_that_organizations_rows(org_factory):
    org_a, org_b = org_factory("Alpha"), org_factory("Beta")
    contact_create(organization=org_a, first_name="Ann", email="ann@a.example")
    contact_create(organization=org_b, first_name="Bob", email="bob@b.example")

    emails_a = set(Contact.objects.for_org(org_a).values_list("email", flat=True))
    emails_b = set(Contact.objects.for_org(org_b.pk).values_list("email", flat=True))

    assert emails_a == {"ann@a.example"}
    assert emails_b == {"bob@b.example"}


@pytest.mark.django_db
def test_for_org_refuses_to_run_unscoped():
    with pytest.raises(ValueError):
        Contact.objects.for_org(None)


@pytest.mark.django_db
def test_landing_page_lists_only_the_users_organizations(client, org_factory):
    alice = user_create(username="alice", password="pw-alice-123456")
    org_factory("Alice's Clinic", owner=alice)
    org_factory("Someone Else's Clinic")

    client.force_login(alice)
    page = client.get("/").content.decode()

    assert "Alice&#x27;s Clinic" in page
    assert "Someone Else" not in page
    assert "Owner" in page


@pytest.mark.django_db
def test_login_page_logs_a_user_in(client):
    user_create(username="carol", password="pw-carol-123456")
    response = client.post("/accounts/login/", {"username": "carol", "password": "pw-carol-123456"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_login_page_rejects_a_wrong_password_with_a_form_error(client):
    user_create(username="dave", password="pw-dave-123456")
    response = client.post("/accounts/login/", {"username": "dave", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
