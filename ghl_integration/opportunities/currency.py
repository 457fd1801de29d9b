"""The currency of a GHL location's deals, read from GHL: every amount of a location is in one currency.

GHL's documented location (``GET /locations/{id}``) carries no currency field; it carries the business's
country (``business.country``, else the location's ``country``, ISO 3166 alpha-2), and the currency is that
country's (CLDR's territory data through Babel: ``DE`` → ``EUR``, ``IN`` → ``INR``; where a country has several
in use, the first, its main one). Refreshed with the mirror (on connect, every reconciliation) and kept on the
connection (``config["currency"]``, with the country it came from); when it changes, the location's deals here
are re-labelled (the amounts are GHL's, in its currency). A location with no usable country keeps what it had.
"""
import logging

from babel.numbers import get_territory_currencies
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from crm.currency import DEFAULT_CURRENCY
from crm.models import ExternalIdentity, Opportunity

from ..account import location_details_keep
from ..client import GhlApiError, GhlClient
from ..models import GhlConnection
from ..provider import GHL

logger = logging.getLogger(__name__)

CURRENCY_KEY = "currency"
COUNTRY_KEY = "currency_country"


def currency_of_location(location: dict) -> tuple[str | None, str]:
    """(ISO 4217 code or None, the country it was taken from) of a GHL location object."""
    business = location.get("business") if isinstance(location.get("business"), dict) else {}
    country = str(business.get("country") or location.get("country") or "").strip().upper()
    if len(country) != 2 or not country.isalpha():
        return None, country
    try:
        currencies = get_territory_currencies(country)
    except Exception:  # babel raises on territories CLDR does not know
        currencies = []
    return (currencies[0] if currencies else None), country


def connection_currency(connection: GhlConnection) -> str:
    return (connection.config or {}).get(CURRENCY_KEY) or DEFAULT_CURRENCY


def location_currency_refresh(*, connection: GhlConnection, client: GhlClient) -> str:
    """Read the location, keep its currency on the connection, re-label its deals when it changed. One request;
    returns the currency now in force."""
    try:
        location = client.locations.get(connection.location_id) or {}
    except GhlApiError as exc:  # e.g. locations.readonly not granted: amounts keep the currency they had
        logger.warning("ghl.opportunities.currency-unavailable",
                       extra={"connection_id": connection.pk, "error": str(exc)})
        return connection_currency(connection)
    location_details_keep(connection=connection, location=location)  # the zone too, from the same read
    currency, country = currency_of_location(location)
    if currency is None:
        logger.warning("ghl.opportunities.currency-unknown", extra={"connection_id": connection.pk,
                                                                    "country": country})
        return connection_currency(connection)
    with transaction.atomic():
        locked = GhlConnection.objects.select_for_update().get(pk=connection.pk)
        config = locked.config or {}
        if (config.get(CURRENCY_KEY), config.get(COUNTRY_KEY)) != (currency, country):
            locked.config = {**config, CURRENCY_KEY: currency, COUNTRY_KEY: country}
            locked.save(update_fields=["config", "updated_at"])
        connection.config = locked.config
        linked = ExternalIdentity.objects.filter(provider=GHL.key, account_id=connection.location_id,
                                                 content_type=ContentType.objects.get_for_model(Opportunity))
        relabelled = (Opportunity.objects.for_org(connection.organization)
                      .filter(pk__in=linked.values("object_id")).exclude(currency=currency).update(currency=currency))
    if relabelled:
        logger.info("ghl.opportunities.currency-changed", extra={"connection_id": connection.pk, "currency": currency,
                                                                 "deals": relabelled})
    return currency


def organization_currency(organization) -> str | None:
    """`crm.currency`'s finder: the currency of the organisation's active location connection, if any."""
    config = (GhlConnection.objects.for_org(organization).filter(status=GhlConnection.Status.ACTIVE)
              .exclude(location_id="").order_by("-connected_at", "-id").values_list("config", flat=True).first())
    return (config or {}).get(CURRENCY_KEY) or None
