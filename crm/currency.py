"""The currency an organisation's deals are in, and money as a person reads it.

`crm` knows no provider: the CRM a deal lives in says which currency its amounts are in (GHL: the location's,
see `ghl_integration/opportunities/currency.py`), registered here from the provider's ``AppConfig.ready()`` as
``fn(organization) -> ISO 4217 code or None``. With none answering, deals are in `DEFAULT_CURRENCY`.
"""
from collections.abc import Callable
from decimal import Decimal

from babel.numbers import format_currency

DEFAULT_CURRENCY = "USD"
DISPLAY_LOCALE = "en_US"  # the product's pages and the agents' answers are in English

CurrencyFinder = Callable[[object], str | None]
_finders: dict[str, CurrencyFinder] = {}


def register_currency_finder(key: str, fn: CurrencyFinder) -> None:
    if key in _finders:
        raise ValueError(f"A currency finder is already registered under {key!r}")
    _finders[key] = fn


def unregister_currency_finder(key: str) -> None:
    _finders.pop(key, None)


def currency_for(organization) -> str:
    """The ISO 4217 code of the organisation's deals: its CRM's answer, else `DEFAULT_CURRENCY`."""
    for fn in _finders.values():
        code = fn(organization)
        if code:
            return code
    return DEFAULT_CURRENCY


def money_display(amount, currency: str) -> str:
    """``€12,500.50`` for (12500.5, "EUR"); a code without a sign shows as its letters (``XYZ5.00``)."""
    value = Decimal(str(amount or 0))
    try:
        return format_currency(value, (currency or DEFAULT_CURRENCY).upper(), locale=DISPLAY_LOCALE)
    except Exception:  # babel refuses codes it cannot format; the amount must still show
        return f"{value:,.2f} {currency}"
