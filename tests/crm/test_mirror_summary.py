"""What the mirror holds of an organization, per kind: exact counts up to a cap, freshness from the links."""
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import ExternalIdentity
from crm.selectors.mirror import mirror_summary
from crm.services.contacts import contact_archive
from crm.services.external_ids import external_id_link
from tests.factories import ContactFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_counts_are_exact_below_the_cap_and_a_lower_bound_at_it():
    # given: an organization with 5 live contacts (3 of them linked) and 1 archived; another organization's contacts
    org, other = OrganizationFactory(), OrganizationFactory()
    contacts = ContactFactory.create_batch(5, organization=org)
    contact_archive(contact=ContactFactory(organization=org))
    ContactFactory.create_batch(4, organization=other)
    for i, contact in enumerate(contacts[:3]):
        external_id_link(obj=contact, provider="ghl", account_id="Loc1", external_id=f"remote-{i}")

    # then: under the cap every figure is exact and not capped; the other organization's rows never count
    exact = mirror_summary(organization=org, cap=10)["contacts"]
    assert (exact["count"], exact["linked"], exact["capped"]) == (5, 3, False)

    # and at the cap the count stops there and says so, while a figure below it stays exact
    capped = mirror_summary(organization=org, cap=4)["contacts"]
    assert (capped["count"], capped["linked"], capped["capped"]) == (4, 3, True)
    assert mirror_summary(organization=other, cap=10)["contacts"]["count"] == 4


def test_freshness_is_the_newest_agreement_of_the_kind_in_the_organization():
    # given: two linked contacts, agreed with GHL an hour and a minute ago, and a newer link in another org
    org, other = OrganizationFactory(), OrganizationFactory()
    now = timezone.now()
    for i, age in enumerate((timedelta(hours=1), timedelta(minutes=1))):
        external_id_link(obj=ContactFactory(organization=org), provider="ghl", account_id="Loc1",
                         external_id=f"remote-{i}")
        ExternalIdentity.objects.filter(external_id=f"remote-{i}").update(last_synced_at=now - age)
    external_id_link(obj=ContactFactory(organization=other), provider="ghl", account_id="Loc2", external_id="theirs")
    ExternalIdentity.objects.filter(external_id="theirs").update(last_synced_at=now)

    summary = mirror_summary(organization=org)

    assert summary["contacts"]["synced_at"] == now - timedelta(minutes=1)
    assert summary["opportunities"] == {"count": 0, "linked": 0, "capped": False, "synced_at": None}
