"""The owner's contact form. It only collects text: the services validate and normalise (one set of rules for
every writer), and their errors are put back on the form's fields.

Custom fields are the ones the connected accounts define (`contact_custom_field_definitions`), each with the
input its type calls for: text, a number, a date, a checkbox, one of the allowed values (a select), several of
them (checkboxes), or a list typed with commas. A field no account takes edits of is shown, disabled."""
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .models import Contact
from .selectors.contact_custom_fields import CustomFieldDefinition
from .sync.mapping import CUSTOM_PREFIX
from .sync.models import DataType

CUSTOM_FIELD_PREFIX = "cf_"  # form names of custom fields: cf_<custom_properties key>

TEXT_FIELDS = ("first_name", "last_name", "email", "phone", "company_name", "address1", "city", "state",
               "postal_code", "country", "website", "timezone", "source")
DND_FIELDS = ("dnd_all", "dnd_sms", "dnd_email", "dnd_whatsapp", "dnd_call")
LIST_FIELDS = ("tags", "additional_emails", "additional_phones")


def _split(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace("\n", ",").split(",") if part.strip()]


class ContactForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.CharField(max_length=254, required=False)
    phone = forms.CharField(max_length=40, required=False, help_text="Any format; stored with its country code.")
    additional_emails = forms.CharField(required=False, help_text="Separated by commas.")
    additional_phones = forms.CharField(required=False, help_text="Separated by commas.")
    company_name = forms.CharField(max_length=200, required=False, label="Company")
    address1 = forms.CharField(max_length=255, required=False, label="Address")
    city = forms.CharField(max_length=120, required=False)
    state = forms.CharField(max_length=120, required=False)
    postal_code = forms.CharField(max_length=20, required=False)
    country = forms.CharField(max_length=60, required=False, help_text="Two-letter code, e.g. US.")
    website = forms.CharField(max_length=255, required=False)
    timezone = forms.CharField(max_length=64, required=False, help_text="e.g. America/New_York")
    date_of_birth = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    tags = forms.CharField(required=False, help_text="Separated by commas.")
    source = forms.CharField(max_length=200, required=False)
    dnd_all = forms.BooleanField(required=False, label="Do not disturb on any channel")
    dnd_sms = forms.BooleanField(required=False, label="No SMS")
    dnd_email = forms.BooleanField(required=False, label="No email")
    dnd_whatsapp = forms.BooleanField(required=False, label="No WhatsApp")
    dnd_call = forms.BooleanField(required=False, label="No calls")

    def __init__(self, *args, contact: Contact | None = None,
                 custom_fields: dict[str, CustomFieldDefinition] | None = None, **kwargs):
        self.contact = contact
        self.custom_definitions = custom_fields or {}
        if contact is not None:
            kwargs.setdefault("initial", initial_for(contact, self.custom_definitions))
        super().__init__(*args, **kwargs)
        current = (contact.custom_properties or {}) if contact is not None else {}
        for key, definition in self.custom_definitions.items():
            self.fields[f"{CUSTOM_FIELD_PREFIX}{key}"] = custom_form_field(definition, current.get(key))
        if contact is not None:
            # Compare with what the page showed, not with the row now: a field the owner left alone is not
            # sent, so a change made in GHL meanwhile is not overwritten with the old value.
            for bound_field in self.fields.values():
                bound_field.show_hidden_initial = True

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not any(cleaned.get(name) for name in ("first_name", "last_name", "email", "phone")):
            raise ValidationError("Give at least a name, an email or a phone.")
        return cleaned

    def standard_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith(CUSTOM_FIELD_PREFIX)]

    def custom_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(CUSTOM_FIELD_PREFIX)]

    def service_fields(self, *, only_changed: bool) -> dict[str, Any]:
        """The cleaned values in the services' shapes (lists for list fields); only the edited ones when
        ``only_changed``. Edited custom fields are laid over the contact's other custom properties; on a new
        contact only the custom fields given are set."""
        names = self.changed_data if only_changed else list(self.fields)
        values: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for name in names:
            value = self.cleaned_data.get(name)
            if name.startswith(CUSTOM_FIELD_PREFIX):
                key = name[len(CUSTOM_FIELD_PREFIX):]
                if only_changed or value not in (None, "", [], False):
                    custom[key] = _custom_input(value, self.custom_definitions[key])
            else:
                values[name] = _split(value) if name in LIST_FIELDS else value
        if custom:
            values["custom_properties"] = {**((self.contact.custom_properties or {}) if self.contact else {}),
                                           **custom}
        return values

    def add_service_errors(self, error: ValidationError) -> None:
        """Put a service's ``ValidationError`` (keyed by contact field, ``custom_properties.<key>`` for a custom
        one) on the matching fields."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for name, messages in error.message_dict.items():
            if name.startswith(CUSTOM_PREFIX):
                name = f"{CUSTOM_FIELD_PREFIX}{name[len(CUSTOM_PREFIX):]}"
            self.add_error(name if name in self.fields else None, messages)


class _OfferedChoice(forms.ChoiceField):
    """A select whose value the services check (with the other fields' errors at once, in their words)."""

    def valid_value(self, value) -> bool:
        return True


class _OfferedChoices(forms.MultipleChoiceField):
    def valid_value(self, value) -> bool:
        return True


def _choices(definition: CustomFieldDefinition, current: Any) -> list[tuple[str, str]]:
    """The allowed values, plus any the contact holds that the field no longer offers (kept, not refused)."""
    held = current if isinstance(current, list) else [] if current in (None, "") else [current]
    extra = [str(v) for v in held if str(v) not in definition.options]
    return [(option, option) for option in definition.options] + [(v, f"{v} (no longer offered)") for v in extra]


def custom_form_field(definition: CustomFieldDefinition, current: Any) -> forms.Field:
    """The input of one custom field, by its type (the services check the value itself)."""
    common = {"required": False, "label": definition.label, "disabled": not definition.editable}
    if not definition.editable:
        common["help_text"] = "Filled from the connected account; edit it there."
    if definition.options and definition.data_type == DataType.LIST:
        return _OfferedChoices(choices=_choices(definition, current), widget=forms.CheckboxSelectMultiple, **common)
    if definition.options and definition.data_type == DataType.TEXT:
        return _OfferedChoice(choices=[("", "—"), *_choices(definition, current)], **common)
    if definition.data_type == DataType.BOOLEAN:
        return forms.BooleanField(**common)
    widget = {
        DataType.NUMBER: forms.NumberInput(attrs={"step": "any"}),
        DataType.DATE: forms.DateInput(attrs={"type": "date"}),
        DataType.EMAIL: forms.EmailInput(),
        DataType.PHONE: forms.TextInput(attrs={"type": "tel"}),
    }.get(definition.data_type, forms.TextInput())
    if definition.data_type == DataType.LIST:
        common.setdefault("help_text", "Separated by commas.")
    return forms.CharField(widget=widget, strip=True, **common)


def _custom_input(value: Any, definition: CustomFieldDefinition) -> Any:
    if definition.is_list and isinstance(value, str):
        return _split(value)
    return value


def _custom_initial(value: Any, definition: CustomFieldDefinition) -> Any:
    if definition.is_list and not definition.options:
        return ", ".join(str(v) for v in value or [])
    return value


def initial_for(contact: Contact, custom_fields: dict[str, CustomFieldDefinition] | None = None) -> dict[str, Any]:
    initial: dict[str, Any] = {name: getattr(contact, name) for name in (*TEXT_FIELDS, *DND_FIELDS)}
    initial.update({name: ", ".join(getattr(contact, name) or []) for name in LIST_FIELDS})
    initial["date_of_birth"] = contact.date_of_birth
    current = contact.custom_properties or {}
    for key, definition in (custom_fields or {}).items():
        initial[f"{CUSTOM_FIELD_PREFIX}{key}"] = _custom_initial(current.get(key), definition)
    return initial
