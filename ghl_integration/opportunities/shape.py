"""GHL's opportunity object ↔ plain values (no ORM): what `inbound` resolves and `outbound` sends.

Read shape (`GET /opportunities/{id}`, search items): ``monetaryValue`` a number, ``customFields``
``[{id, fieldValue}]``, ``updatedAt``/``lastStageChangeAt``/``lastStatusChangeAt`` ISO times. Write shape
(`POST /opportunities/`, `PUT /opportunities/{id}`): the same names, ``customFields`` ``[{id, field_value}]``.
"""
from decimal import Decimal, InvalidOperation
from typing import Any

STATUSES = ("open", "won", "lost", "abandoned")
CUSTOM_KEY_PREFIX = "opportunity."


def money(value: Any) -> Decimal:
    """GHL's number as a decimal of two places (floats such as 4800.1 come back as 4800.10, not 4800.0999…)."""
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
    except (InvalidOperation, ValueError):
        return Decimal("0.00")
    if not amount.is_finite() or amount < 0:
        return Decimal("0.00")
    return amount.quantize(Decimal("0.01"))


def money_out(value: Decimal) -> int | float:
    """A decimal as GHL's JSON number: 12500 for 12500.00, 99.5 for 99.50."""
    return int(value) if value == value.to_integral_value() else float(value)


def custom_key(field_key: str) -> str:
    """GHL's ``fieldKey`` ("opportunity.treatment_interest") as our custom property key ("treatment_interest")."""
    return field_key.removeprefix(CUSTOM_KEY_PREFIX)


def custom_field_value(item: dict[str, Any]) -> Any:
    """The value of one ``customFields`` item (GHL's reads say ``fieldValue``; writes take ``field_value``)."""
    return item.get("fieldValue", item.get("value", item.get("field_value")))


def status_of(doc: dict[str, Any]) -> str:
    status = doc.get("status")
    return status if status in STATUSES else "open"
