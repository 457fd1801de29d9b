"""The custom fields the organization's connected accounts define for contacts (and opportunities): what the
contact form offers and the services check a local edit against (type and allowed values, as the field mapping
carries them)."""
from dataclasses import dataclass

from tenancy.models import Organization

from ..sync.kinds import CONTACT, OPPORTUNITY
from ..sync.mapping import CUSTOM_PREFIX
from ..sync.models import DataType, Direction, FieldMapping


@dataclass(frozen=True)
class CustomFieldDefinition:
    key: str  # in the record's custom_properties
    label: str
    data_type: str
    options: tuple[str, ...] = ()  # empty: any value of the type
    # False when no account takes local edits of it (mapped remote → here only): shown, not edited, since an
    # edit would never be sent and the next remote change would overwrite it.
    editable: bool = True

    @property
    def is_list(self) -> bool:
        return self.data_type == DataType.LIST


def contact_custom_field_definitions(*, organization: Organization) -> dict[str, CustomFieldDefinition]:
    """The contacts' custom fields (`custom_field_definitions`)."""
    return custom_field_definitions(organization=organization, object_type=CONTACT)


def opportunity_custom_field_definitions(*, organization: Organization) -> dict[str, CustomFieldDefinition]:
    """The opportunities' custom fields (`custom_field_definitions`)."""
    return custom_field_definitions(organization=organization, object_type=OPPORTUNITY)


def custom_field_definitions(*, organization: Organization, object_type: str) -> dict[str, CustomFieldDefinition]:
    """key → definition of a kind's custom fields, ordered by label, from the active custom-field mapping rows of
    every account (one query). A key two accounts map takes the first row's type and values, and is editable if
    either sends it."""
    rows = (FieldMapping.objects.for_org(organization)
            .filter(object_type=object_type, is_active=True, local_field__startswith=CUSTOM_PREFIX)
            .order_by("remote_label", "id")
            .values_list("local_field", "remote_label", "data_type", "options", "direction"))
    found: dict[str, CustomFieldDefinition] = {}
    for local_field, label, data_type, options, direction in rows:
        key = local_field[len(CUSTOM_PREFIX):]
        editable = direction in (Direction.BOTH, Direction.OUTBOUND)
        if key in found:
            if editable and not found[key].editable:
                found[key] = CustomFieldDefinition(**{**found[key].__dict__, "editable": True})
            continue
        found[key] = CustomFieldDefinition(key=key, label=label or key.replace("_", " ").capitalize(),
                                           data_type=data_type, options=tuple(options or ()), editable=editable)
    return found


def contact_field_label(name: str, definitions: dict[str, CustomFieldDefinition]) -> str:
    """How a page names a contact field that sync records by its local name: ``custom_properties.visits`` →
    the custom field's name (``Visits``), ``first_name`` → ``First name``, ``dnd_sms`` → ``DND: SMS``."""
    from django.core.exceptions import FieldDoesNotExist
    from django.utils.text import capfirst

    from ..models import Contact

    if name.startswith(CUSTOM_PREFIX):
        key = name[len(CUSTOM_PREFIX):]
        return definitions[key].label if key in definitions else key
    try:
        return capfirst(Contact._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name
