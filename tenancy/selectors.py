from django.contrib.auth.models import AbstractBaseUser

from .models import Membership, Organization


def organization_list_for_user(*, user: AbstractBaseUser):
    """Organizations the user belongs to, each annotated with the user's role as `role`."""
    from django.db.models import F

    return (
        Organization.objects.filter(memberships__user=user)
        .annotate(role=F("memberships__role"))
        .order_by("name")
    )


def membership_get(*, user: AbstractBaseUser, organization_id: int) -> Membership | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("organization")
        .filter(user=user, organization_id=organization_id)
        .first()
    )
