import pytest
from django.db import IntegrityError, transaction

from crm.models import Contact, ExternalIdentity
from crm.selectors.external_ids import external_id_for_object, local_object_for_external_id
from crm.services.contacts import contact_create
from crm.services.external_ids import ExternalIdConflict, external_id_link


@pytest.fixture
def two_contacts(org_factory):
    org = org_factory()
    return (
        contact_create(organization=org, first_name="One", email="one@example.com"),
        contact_create(organization=org, first_name="Two", email="two@example.com"),
    )


@pytest.mark.django_db
def test_lookup_works_in_both_directions(two_contacts):
    one, _ = two_contacts
    external_id_link(obj=one, provider="ghl", account_id="loc1", external_id="ext-1")

    assert local_object_for_external_id(model=Contact, provider="ghl", account_id="loc1", external_id="ext-1") == one
    assert external_id_for_object(obj=one, provider="ghl", account_id="loc1") == "ext-1"
    assert local_object_for_external_id(model=Contact, provider="ghl", account_id="loc2", external_id="ext-1") is None


@pytest.mark.django_db
def test_linking_is_idempotent_for_the_same_pair(two_contacts):
    one, _ = two_contacts
    first = external_id_link(obj=one, provider="ghl", account_id="loc1", external_id="ext-1")
    again = external_id_link(obj=one, provider="ghl", account_id="loc1", external_id="ext-1")
    assert first.pk == again.pk
    assert ExternalIdentity.objects.count() == 1


@pytest.mark.django_db
def test_one_external_id_cannot_point_at_two_local_rows(two_contacts):
    one, two = two_contacts
    external_id_link(obj=one, provider="ghl", account_id="loc1", external_id="ext-1")
    with pytest.raises(ExternalIdConflict):
        external_id_link(obj=two, provider="ghl", account_id="loc1", external_id="ext-1")


@pytest.mark.django_db
def test_one_local_row_cannot_have_two_ids_in_one_account(two_contacts):
    one, _ = two_contacts
    external_id_link(obj=one, provider="ghl", account_id="loc1", external_id="ext-1")
    with pytest.raises(ExternalIdConflict):
        external_id_link(obj=one, provider="ghl", account_id="loc1", external_id="ext-2")
    # ...but the same row may be linked in another account or provider.
    external_id_link(obj=one, provider="ghl", account_id="loc2", external_id="ext-9")


@pytest.mark.django_db
def test_the_database_enforces_uniqueness_both_ways(two_contacts):
    one, two = two_contacts
    link = external_id_link(obj=one, provider="ghl", account_id="loc1", external_id="ext-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ExternalIdentity.objects.create(
            organization_id=two.organization_id, provider="ghl", account_id="loc1",
            content_type=link.content_type, object_id=two.pk, external_id="ext-1",
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        ExternalIdentity.objects.create(
            organization_id=one.organization_id, provider="ghl", account_id="loc1",
            content_type=link.content_type, object_id=one.pk, external_id="ext-2",
        )
