"""Checking a local edit of a custom property (any kind of record) against its field's definition: the type and
the allowed values (a picklist) its connected account's field mapping carries."""
from typing import Any

from ..selectors.contact_custom_fields import CustomFieldDefinition
from ..sync.hashing import canonical
from ..sync.mapping import to_local_value
from ..sync.models import DataType

# Types a local edit can be checked and normalised by (a reference is a remote record's id: not typed here).
CHECKED_CUSTOM_TYPES = frozenset({DataType.TEXT, DataType.NUMBER, DataType.DATE, DataType.BOOLEAN, DataType.LIST,
                                  DataType.PHONE, DataType.EMAIL, DataType.DATETIME})


def custom_field_value_clean(value: Any, definition: CustomFieldDefinition, *, region: str) -> Any:
    """One custom property as its field's type stores it, a picklist's value in the field's own spelling;
    `ValueError` with a readable reason (not among the field's values, not of its type)."""
    if definition.data_type not in CHECKED_CUSTOM_TYPES:
        return value
    if definition.is_list and isinstance(value, str):
        value = [part.strip() for part in value.replace("\n", ",").split(",")]
    converted = canonical(to_local_value(value, definition.data_type, region=region))
    if not definition.options or converted in (None, "", []):
        return converted
    allowed = {option.casefold(): option for option in definition.options}
    chosen = converted if isinstance(converted, list) else [converted]
    unknown = [str(v) for v in chosen if str(v).casefold() not in allowed]
    if unknown:
        raise ValueError(f"“{'”, “'.join(unknown)}” {'is' if len(unknown) == 1 else 'are'} not among this field's "
                         f"values: {', '.join(definition.options)}")
    spelled = [allowed[str(v).casefold()] for v in chosen]  # the field's own spelling of each value
    return spelled if isinstance(converted, list) else spelled[0]
