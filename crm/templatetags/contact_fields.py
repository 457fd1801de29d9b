"""Contact field names as the owner reads them (``{% load contact_fields %}``); the page's context gives the
custom fields' definitions as ``custom_field_definitions``."""
from django import template

from ..selectors.contact_custom_fields import contact_field_label

register = template.Library()


@register.simple_tag(takes_context=True)
def field_label(context, name: str) -> str:
    return contact_field_label(name, context.get("custom_field_definitions") or {})


@register.simple_tag(takes_context=True)
def field_labels(context, names) -> str:
    definitions = context.get("custom_field_definitions") or {}
    return ", ".join(contact_field_label(name, definitions) for name in names or [])
