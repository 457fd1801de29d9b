"""Amounts are in the GHL location's currency: read from the location (its business country, as GHL documents
it) on connect and every reconciliation, kept on the connection, shown on the board; against the sandbox."""
import pytest
from django.urls import reverse

from crm.currency import currency_for, money_display
from crm.models import Opportunity
from ghl_integration.models import GhlConnection
from ghl_integration.opportunities.currency import currency_of_location
from ghl_integration.opportunities.sync import opportunities_pull, opportunities_reconcile

from .conftest import LOCATION, make_deal
from .test_inbound import local

pytestmark = pytest.mark.django_db


def test_the_pull_takes_the_currency_from_the_location_and_a_change_there_relabels_the_deals(ghl, org, connection):
    # given: a US location
    deal = make_deal(ghl, name="Acme deal", value=12500)
    opportunities_pull(connection=connection)
    connection.refresh_from_db()
    assert (connection.config["currency"], local(deal["id"]).currency, currency_for(org)) == ("USD", "USD", "USD")

    # when: the business moves to Germany in GHL's business profile; the next reconciliation reads it
    ghl.control.change("location.update", locationId=LOCATION, business={"country": "DE"})
    result = opportunities_reconcile(connection=connection)

    # then: the connection, the deals there and new ones are in euros
    connection.refresh_from_db()
    assert (connection.config["currency"], connection.config["currency_country"]) == ("EUR", "DE")
    assert local(deal["id"]).currency == "EUR" and currency_for(org) == "EUR"
    other = make_deal(ghl, name="Lopez smile", contact=1, value=4800)
    opportunities_reconcile(connection=connection)
    assert local(other["id"]).currency == "EUR"
    assert result.run.cursor["requests"] >= 6  # pipelines, users, lost reasons, custom fields, location, search


def test_a_location_with_no_usable_country_keeps_its_currency(ghl, org, connection):
    ghl.control.change("location.update", locationId=LOCATION, business={"country": "IN"})
    opportunities_pull(connection=connection)
    ghl.control.change("location.update", locationId=LOCATION, country="", business={"country": ""})

    opportunities_reconcile(connection=connection)

    connection.refresh_from_db()
    assert connection.config["currency"] == "INR"


def test_the_board_shows_amounts_and_totals_in_the_locations_currency(ghl, org, connection, client):
    ghl.control.change("location.update", locationId=LOCATION, business={"country": "GB"})
    make_deal(ghl, name="Acme deal", value=12500.5)
    opportunities_pull(connection=connection)
    client.force_login(org.memberships.get().user)

    page = client.get(reverse("pipeline_board", kwargs={"org_id": org.pk})).content.decode()

    assert '<span class="deal-value">£12,500.50</span>' in page
    assert '<span class="total">£12,500.50</span>' in page and '<span id="board-currency">GBP</span>' in page


@pytest.mark.parametrize("location,expected", [
    ({"country": "US", "business": {"country": "DE"}}, ("EUR", "DE")),  # the business's own country first
    ({"country": "in", "business": {}}, ("INR", "IN")),
    ({"country": "", "business": {"country": ""}}, (None, "")),
    ({"country": "ZZ"}, (None, "ZZ")),
    ({"country": "USA"}, (None, "USA")),
])
def test_currency_of_a_location(location, expected):
    assert currency_of_location(location) == expected


def test_money_is_shown_with_its_sign_or_its_code():
    assert money_display(12500.5, "EUR") == "€12,500.50"
    assert money_display("900", "JPY") == "¥900"
    assert "XQQ" in money_display(5, "XQQ") and "5.00" in money_display(5, "XQQ")


def test_only_an_active_connections_currency_counts(ghl, org, connection):
    GhlConnection.objects.filter(pk=connection.pk).update(config={**connection.config, "currency": "EUR"})
    assert currency_for(org) == "EUR"
    GhlConnection.objects.filter(pk=connection.pk).update(status=GhlConnection.Status.DISCONNECTED)
    assert currency_for(org) == "USD" and not Opportunity.objects.exists()
