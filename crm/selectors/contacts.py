from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from tenancy.models import Organization

from ..models import Contact
from ..phones import normalize_phone


def contact_list(*, organization: Organization, include_archived: bool = False) -> QuerySet[Contact]:
    qs = Contact.objects.for_org(organization)
    return qs if include_archived else qs.active()


def contact_find_by_name(*, organization: Organization, name: str) -> QuerySet[Contact]:
    """Contacts whose name matches `name` (case-insensitive; full name first, then parts)."""
    name = " ".join(name.split())
    return contact_list(organization=organization).filter(
        Q(full_name__iexact=name) | Q(first_name__iexact=name) | Q(last_name__iexact=name)
    )


def contact_find_by_email_or_phone(
    *, organization: Organization, email: str = "", phone: str = ""
) -> Contact | None:
    """The first active contact matching the email, else the E.164 phone."""
    qs = contact_list(organization=organization)
    if email:
        match = qs.filter(email=email.strip().lower()).order_by("id").first()
        if match:
            return match
    if phone:
        try:
            e164 = normalize_phone(phone, default_region=organization.default_phone_region)
        except ValidationError:  # an unparseable phone simply matches nothing
            return None
        if e164:
            return qs.filter(phone=e164).order_by("id").first()
    return None
