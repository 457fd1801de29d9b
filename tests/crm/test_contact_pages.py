"""The owner's contact pages: list and search, detail, create and edit through the services, archive."""
import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection as db_connection

from crm.models import Contact, ExternalIdentity
from crm.services.contacts import contact_create, contact_update
from crm.sync.models import OutboxEntry, SyncConflict, SyncRun
from tenancy.models import Membership
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(org_factory):
    return org_factory("Bright Smiles")


@pytest.fixture
def owner_client(client, org):
    client.force_login(org.memberships.get().user)
    return client


@pytest.fixture
def member_client(client, org):
    client.force_login(MembershipFactory(organization=org, role=Membership.Role.MEMBER).user)
    return client


def _list(client, org, **params):
    response = client.get(f"/orgs/{org.pk}/contacts/", params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_list_shows_name_email_phone_tags_and_sync_state(owner_client, org, org_factory):
    jane = contact_create(organization=org, first_name="Jane", last_name="Doe", email="jane@example.com",
                          phone="(503) 555-0142", tags=["vip"])
    linked = contact_create(organization=org, first_name="Linus", email="linus@example.com")
    ExternalIdentity.objects.create(organization=org, provider="ghl", account_id="loc1", external_id="g1",
                                    content_type=ContentType.objects.get_for_model(Contact), object_id=linked.pk)
    contact_create(organization=org_factory("Elsewhere"), first_name="Stranger")

    page = _list(owner_client, org)

    assert f'href="/orgs/{org.pk}/contacts/{jane.pk}/"' in page
    assert "jane@example.com" in page and "+15035550142" in page and '<span class="tag">vip</span>' in page
    assert ">Only here<" in page and ">Synced<" in page
    assert "Stranger" not in page
    assert 'aria-current="page">Contacts</a>' in page


@pytest.mark.parametrize("query", ["jane", "DOE", "jane@exa", "503 555 0142", "(503) 555", "Acme"])
def test_search_finds_by_name_email_phone_in_any_format_or_company(owner_client, org, query):
    contact_create(organization=org, first_name="Jane", last_name="Doe", email="jane@example.com",
                   phone="+15035550142", company_name="Acme Dental")
    contact_create(organization=org, first_name="Bob", email="bob@other.example", phone="+14155550100")

    page = _list(owner_client, org, q=query)

    assert "Jane Doe" in page and "Bob" not in page


def test_a_search_that_finds_nothing_says_so_and_a_short_one_asks_for_more(owner_client, org):
    contact_create(organization=org, first_name="Jane")

    assert "No contact matches “zzz”." in _list(owner_client, org, q="zzz")
    short = _list(owner_client, org, q="ja")
    assert "Type at least 3 characters to search." in short and "Jane" in short


def test_the_list_pages_by_name(owner_client, org):
    for n in range(27):
        contact_create(organization=org, first_name=f"Person {n:02d}")

    first, second = _list(owner_client, org), _list(owner_client, org, page=2)

    assert "Person 00" in first and "Person 24" in first and "Person 25" not in first and 'rel="next"' in first
    assert "Person 25" in second and "Person 26" in second and 'rel="next"' not in second and 'rel="prev"' in second


def test_archived_contacts_are_listed_apart(owner_client, org):
    kept = contact_create(organization=org, first_name="Kept")
    gone = contact_create(organization=org, first_name="Gone")
    owner_client.post(f"/orgs/{org.pk}/contacts/{gone.pk}/archive/", follow=True)

    assert "Gone" not in _list(owner_client, org) and "Kept" in _list(owner_client, org)
    archived = _list(owner_client, org, archived="1")
    assert "Gone" in archived and kept.first_name not in archived


def test_the_list_filters_by_tag_combined_with_search_and_scoped_to_the_organization(owner_client, org, org_factory):
    contact_create(organization=org, first_name="Jane", last_name="Vip", tags=["vip", "new"])
    contact_create(organization=org, first_name="Jane", last_name="Plain", tags=["new"])
    contact_create(organization=org, first_name="Bob", last_name="Vip", tags=["VIP", "vip-ish"])
    contact_create(organization=org_factory("Elsewhere"), first_name="Jane", last_name="Stranger", tags=["vip"])

    tagged = _list(owner_client, org, tag="vip")
    both = _list(owner_client, org, tag="vip", q="jane")
    nothing = _list(owner_client, org, tag="vip", q="bob")

    assert "Jane Vip" in tagged and "Jane Plain" not in tagged and "Bob Vip" not in tagged
    assert "Stranger" not in tagged
    assert 'id="tag-filter"' in tagged and 'value="vip"' in tagged
    assert "Jane Vip" in both and "Jane Plain" not in both
    assert "No contact tagged “vip” matches “bob”." in nothing
    # a tag in the list links to its filter, keeping the search
    assert 'href="?q=jane&amp;tag=new"' in both


def test_the_tag_filter_pages_and_keeps_the_search_and_tag_across_pages(owner_client, org):
    for n in range(27):
        contact_create(organization=org, first_name=f"Person {n:02d}", tags=["lead"])
    contact_create(organization=org, first_name="Person untagged")

    first = _list(owner_client, org, tag="lead", q="person")
    second = _list(owner_client, org, tag="lead", q="person", page=2)

    assert 'href="?q=person&amp;tag=lead&amp;page=2"' in first
    assert "Person 25" in second and "Person 26" in second and "Person untagged" not in second
    assert 'rel="next"' not in second


def test_a_tag_filter_of_archived_contacts_and_an_unknown_tag(owner_client, org):
    gone = contact_create(organization=org, first_name="Gone", tags=["vip"])
    owner_client.post(f"/orgs/{org.pk}/contacts/{gone.pk}/archive/", follow=True)
    contact_create(organization=org, first_name="Kept", tags=["vip"])

    archived = _list(owner_client, org, tag="vip", archived="1")
    unknown = _list(owner_client, org, tag="nope")

    assert "Gone" in archived and "Kept" not in archived
    assert "No contact is tagged “nope”." in unknown


@pytest.mark.skipif(db_connection.vendor != "postgresql", reason="the GIN index is PostgreSQL's")
def test_the_tag_filter_is_answered_by_the_tags_index(org):
    from crm.selectors.contact_pages import _filter_tag

    contact_create(organization=org, first_name="Jane", tags=["vip"])
    query = _filter_tag(Contact.objects.all(), "vip")
    with db_connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "crm_contact_tags_gin" in plan


def test_the_detail_page_shows_fields_custom_fields_tags_dnd_history_and_conflicts(owner_client, org):
    contact = contact_create(organization=org, first_name="Jane", email="jane@example.com", tags=["vip", "new"],
                             dnd_sms=True, custom_properties={"plan": "Gold"})
    content_type = ContentType.objects.get_for_model(Contact)
    ExternalIdentity.objects.create(organization=org, provider="ghl", account_id="loc1", external_id="gh-jane",
                                    content_type=content_type, object_id=contact.pk)
    OutboxEntry.objects.create(organization=org, provider="ghl", account_id="loc1", content_type=content_type,
                               object_id=contact.pk, changed_fields=["phone"], status="dead",
                               last_error="phone: GHL refused +1555")
    SyncConflict.objects.create(organization=org, provider="ghl", account_id="loc1", content_type=content_type,
                                object_id=contact.pk, field="city", local_value="Portland", remote_value="Salem",
                                applied_value="Salem", policy="remote_wins", decision="remote")
    SyncRun.objects.create(organization=org, provider="ghl", account_id="loc1", kind="reconcile", refused=1,
                           refusal_samples=[{"external_id": "gh-jane", "error": "country: “Narnia” is not a country"}])

    response = owner_client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<title>Jane · Contacts · Bright Smiles · AgentLevel</title>" in page
    assert "jane@example.com" in page and '<span class="tag">new</span>' in page
    assert "SMS: <strong>do not contact</strong>" in page and "Email: allowed" in page
    assert "<dt>plan</dt><dd>Gold</dd>" in page
    assert "gh-jane" in page and "phone: GHL refused +1555" in page and ">Not sent<" in page
    assert "Portland" in page and "Salem" in page and "Remote value applied" in page
    assert "“Narnia” is not a country" in page


def test_another_organizations_contact_is_not_found(owner_client, org_factory):
    other = contact_create(organization=org_factory("Elsewhere"), first_name="Stranger")
    mine = org_factory("Mine")
    owner_client.force_login(mine.memberships.get().user)

    assert owner_client.get(f"/orgs/{mine.pk}/contacts/{other.pk}/").status_code == 404
    assert owner_client.post(f"/orgs/{mine.pk}/contacts/{other.pk}/archive/").status_code == 404


def test_an_owner_adds_a_contact_through_the_services(owner_client, org):
    response = owner_client.post(f"/orgs/{org.pk}/contacts/new/", {
        "first_name": "Ada", "last_name": "Lovelace", "email": "ADA@Example.com", "phone": "503 555 0142",
        "tags": "vip, new", "country": "gb", "dnd_email": "on"})

    contact = Contact.objects.for_org(org).get()
    assert response.status_code == 302 and response["Location"] == f"/orgs/{org.pk}/contacts/{contact.pk}/"
    assert (contact.full_name, contact.email, contact.phone) == ("Ada Lovelace", "ada@example.com", "+15035550142")
    assert contact.tags == ["vip", "new"] and contact.country == "GB" and contact.dnd_email is True


def test_bad_input_is_refused_in_place_with_what_was_typed_kept(owner_client, org):
    response = owner_client.post(f"/orgs/{org.pk}/contacts/new/", {
        "first_name": "Ada", "email": "ada@example.com", "phone": "call me maybe", "country": "Narnia"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "“call me maybe” is not a phone number." in page
    assert "Country must be a two-letter ISO code" in page
    assert 'value="call me maybe"' in page and 'value="Ada"' in page and 'value="Narnia"' in page
    assert not Contact.objects.for_org(org).exists()


def test_a_form_with_nothing_to_identify_the_person_is_refused(owner_client, org):
    response = owner_client.post(f"/orgs/{org.pk}/contacts/new/", {"city": "Portland"})

    assert response.status_code == 400 and "Give at least a name, an email or a phone." in response.content.decode()


def test_an_edit_sends_only_what_the_owner_changed(owner_client, org):
    contact = contact_create(organization=org, first_name="Jane", email="jane@example.com", city="Portland")
    form = owner_client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/edit/").content.decode()
    assert 'value="jane@example.com"' in form
    # meanwhile GHL changes the email (a webhook applied through the services)
    contact_update(contact=contact, email="jane.new@example.com")

    response = owner_client.post(f"/orgs/{org.pk}/contacts/{contact.pk}/edit/", {
        "first_name": "Jane", "initial-first_name": "Jane",
        "email": "jane@example.com", "initial-email": "jane@example.com",
        "city": "Salem", "initial-city": "Portland"})

    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.city == "Salem"
    assert contact.email == "jane.new@example.com"  # left alone on the form, so GHL's newer value stays


def test_an_edit_refused_by_the_services_keeps_the_input(owner_client, org):
    contact = contact_create(organization=org, first_name="Jane", phone="+15035550142")

    response = owner_client.post(f"/orgs/{org.pk}/contacts/{contact.pk}/edit/", {
        "first_name": "Jane", "initial-first_name": "Jane", "phone": "12", "initial-phone": "+15035550142"})

    assert response.status_code == 400
    assert 'value="12"' in response.content.decode() and "phone" in response.content.decode()
    contact.refresh_from_db()
    assert contact.phone == "+15035550142"


def test_archive_and_restore(owner_client, org):
    contact = contact_create(organization=org, first_name="Jane")

    owner_client.post(f"/orgs/{org.pk}/contacts/{contact.pk}/archive/")
    contact.refresh_from_db()
    assert contact.is_archived
    assert "(archived)" in owner_client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/").content.decode()

    owner_client.post(f"/orgs/{org.pk}/contacts/{contact.pk}/restore/")
    contact.refresh_from_db()
    assert not contact.is_archived


def test_members_read_but_cannot_change(member_client, org):
    contact = contact_create(organization=org, first_name="Jane")

    assert "Jane" in _list(member_client, org)
    detail = member_client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/").content.decode()
    assert "Jane" in detail and 'id="contact-edit"' not in detail and 'id="contact-archive"' not in detail
    assert member_client.get(f"/orgs/{org.pk}/contacts/new/").status_code == 403
    assert member_client.post(f"/orgs/{org.pk}/contacts/{contact.pk}/edit/", {"first_name": "X"}).status_code == 403
    refused = member_client.post(f"/orgs/{org.pk}/contacts/{contact.pk}/archive/")
    assert refused.status_code == 403 and "only an owner or admin" in refused.content.decode()
    contact.refresh_from_db()
    assert contact.first_name == "Jane" and not contact.is_archived


def test_outsiders_and_anonymous_visitors_see_nothing(client, org):
    assert client.get(f"/orgs/{org.pk}/contacts/").status_code == 302
    client.force_login(MembershipFactory(role=Membership.Role.OWNER).user)
    assert client.get(f"/orgs/{org.pk}/contacts/").status_code == 404


@pytest.mark.skipif(db_connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
def test_the_search_is_answered_by_the_trigram_index(org):
    from crm.selectors.contact_pages import _filter_search

    contact_create(organization=org, first_name="Jane", email="jane@example.com")
    # the expression alone (the organization's own index would otherwise win on a table this small)
    query = _filter_search(Contact.objects.all(), "jane@exa")
    with db_connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "crm_contact_search_trgm" in plan
