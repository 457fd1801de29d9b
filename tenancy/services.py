from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Membership, Organization


@transaction.atomic
def organization_create(*, name: str, owner, default_phone_region: str = "US") -> Organization:
    organization = Organization.objects.create(name=name, default_phone_region=default_phone_region.upper())
    Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
    return organization


def membership_add(*, organization: Organization, user, role: str = Membership.Role.MEMBER) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    return membership


def user_create(*, username: str, password: str, email: str = ""):
    return get_user_model().objects.create_user(username=username, password=password, email=email)
