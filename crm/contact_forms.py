"""The owner's contact form. It only collects text: the services validate and normalise (one set of rules for
every writer), and their errors are put back on the form's fields."""
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .models import Contact

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

    def __init__(self, *args, contact: Contact | None = None, **kwargs):
        if contact is not None:
            kwargs.setdefault("initial", initial_for(contact))
        super().__init__(*args, **kwargs)
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

    def service_fields(self, *, only_changed: bool) -> dict[str, Any]:
        """The cleaned values in the services' shapes (lists for list fields); only the edited ones when
        ``only_changed``."""
        names = self.changed_data if only_changed else list(self.fields)
        values: dict[str, Any] = {}
        for name in names:
            value = self.cleaned_data.get(name)
            values[name] = _split(value) if name in LIST_FIELDS else value
        return values

    def add_service_errors(self, error: ValidationError) -> None:
        """Put a service's ``ValidationError`` (keyed by contact field) on the matching fields."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for name, messages in error.message_dict.items():
            self.add_error(name if name in self.fields else None, messages)


def initial_for(contact: Contact) -> dict[str, Any]:
    initial: dict[str, Any] = {name: getattr(contact, name) for name in (*TEXT_FIELDS, *DND_FIELDS)}
    initial.update({name: ", ".join(getattr(contact, name) or []) for name in LIST_FIELDS})
    initial["date_of_birth"] = contact.date_of_birth
    return initial
