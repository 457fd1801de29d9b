"""``{{ amount|money:currency }}``: an amount as a person reads it in that currency (``€12,500.50``)."""
from django import template

from ..currency import money_display

register = template.Library()


@register.filter
def money(amount, currency: str = "") -> str:
    return money_display(amount, currency)
