"""factory_boy factories for test data (STYLE §7).

Where a service keeps an invariant, the factory creates through it, so a factory-made row is one the product
could have made: an organisation always has its owner's membership (`organization_create`), a contact is
cleaned and normalised and recorded in the outbox (`contact_create`). `GhlConnectionFactory` writes the row
directly (no GHL to ask for tokens): an active location connection whose tokens are encrypted at rest like any
other; connecting for real against the sandbox goes through `connection_connect_from_code`.

    owner = UserFactory()
    org = OrganizationFactory(owner=owner, name="Clinic")
    MembershipFactory(organization=org, role=Membership.Role.MEMBER)
    ContactFactory(organization=org, email="jane@example.com")
    GhlConnectionFactory(organization=org, expiring=True)
"""
from datetime import timedelta

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm.models import Contact
from crm.services.contacts import contact_create
from ghl_integration.models import GhlConnection
from tenancy.models import Membership, Organization
from tenancy.services import membership_add, organization_create

PASSWORD = "pw-factory-123456"


class UserFactory(factory.django.DjangoModelFactory):
    """A user whose password is `PASSWORD` (``client.login(username=u.username, password=PASSWORD)``)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)


class OrganizationFactory(factory.django.DjangoModelFactory):
    """An organisation with its owner (a new user unless ``owner=`` is given), through `organization_create`."""

    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    default_phone_region = "US"
    owner = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class, *, name: str, default_phone_region: str, owner, **unknown):
        if unknown:
            raise TypeError(f"OrganizationFactory does not set {sorted(unknown)}")
        return organization_create(name=name, owner=owner, default_phone_region=default_phone_region)


class MembershipFactory(factory.django.DjangoModelFactory):
    """A user's role in an organisation (a member unless ``role=``), through `membership_add`."""

    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.MEMBER

    @classmethod
    def _create(cls, model_class, *, user, organization, role):
        return membership_add(organization=organization, user=user, role=role)


class ContactFactory(factory.django.DjangoModelFactory):
    """A contact, through `contact_create` (so phones are read in the organisation's region and E.164'd, and
    an outbox entry is recorded when the organisation pushes to a provider)."""

    class Meta:
        model = Contact

    organization = factory.SubFactory(OrganizationFactory)
    first_name = "Pat"
    last_name = factory.Sequence(lambda n: f"Doe{n}")
    email = factory.LazyAttribute(lambda contact: f"{contact.first_name}.{contact.last_name}@example.com".lower())

    @classmethod
    def _create(cls, model_class, *, organization, **fields):
        return contact_create(organization=organization, **fields)


class GhlConnectionFactory(factory.django.DjangoModelFactory):
    """An active location connection with an access token valid for a day and a refresh token, every scope
    granted. Traits: ``expiring=True`` (the token expires within a minute, so the next use refreshes),
    ``agency=True`` (a Company-level connection, no location)."""

    class Meta:
        model = GhlConnection

    organization = factory.SubFactory(OrganizationFactory)
    location_id = factory.Sequence(lambda n: f"loc-{n}")
    location_name = factory.LazyAttribute(lambda connection: f"Location {connection.location_id}")
    company_id = "comp-1"
    token_level = GhlConnection.TokenLevel.LOCATION
    scopes = factory.LazyFunction(lambda: " ".join(settings.GHL_SCOPES))
    access_token = factory.Sequence(lambda n: f"access-{n}")
    refresh_token = factory.Sequence(lambda n: f"refresh-{n}")
    token_expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    status = GhlConnection.Status.ACTIVE
    connected_at = factory.LazyFunction(timezone.now)
    last_refreshed_at = factory.LazyFunction(timezone.now)

    class Params:
        expiring = factory.Trait(token_expires_at=factory.LazyFunction(lambda: timezone.now() + timedelta(seconds=30)))
        agency = factory.Trait(
            token_level=GhlConnection.TokenLevel.COMPANY,
            location_id="",
            location_name=factory.LazyAttribute(lambda connection: f"Agency {connection.company_id}"),
        )


def sandbox_connect(sandbox, *, organization: Organization, user=None, location_id: str | None = None) -> GhlConnection:
    """Connect ``organization`` to a sandbox location (the demo one by default) for real: a code from the
    sandbox's consent, exchanged by `connection_connect_from_code` as the OAuth callback would (as the
    organisation's owner unless ``user`` is given). The product's GHL settings must point at ``sandbox``."""
    from ghl_integration.connections import connection_connect_from_code
    from ghl_sandbox import constants as sbx

    code = sandbox.control.issue_code(locationId=location_id or sbx.DEMO_LOCATION_ID,
                                      redirectUri=settings.GHL_REDIRECT_URI)["code"]
    user = user or organization.memberships.get(role=Membership.Role.OWNER).user
    return connection_connect_from_code(organization=organization, user=user, code=code).connection
