"""Create the demo organization, its owner, a staff login and the few contacts only it has. Safe to run repeatedly."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from crm.models import Contact
from crm.services.contacts import contact_create
from tenancy.models import Membership, Organization

DEMO_ORG_SLUG = "demo-dental"
DEMO_OWNER = ("demo-owner", "demo-password")
DEMO_STAFF = ("admin", "admin-password")

# The demo's own records are only what connecting does not bring: two walk-in patients recorded here before the
# practice connected GoHighLevel. Everything else (GHL's contacts, pipelines, calendars) arrives by connecting
# the sandbox's demo location, so `make run` shows one business, not local near-twins of GHL's records; the
# first sync is two-way, so these two are sent to GHL then.
DEMO_CONTACTS = [
    ("Tomasz", "Wójcik", "tomasz.wojcik@walk-in.example", "Walk-in patient"),
    ("Inês", "Ferreira", "ines.ferreira@walk-in.example", "Walk-in patient"),
]


class Command(BaseCommand):
    help = "Create a demo organization with an owner login (demo-owner / demo-password); connect it to bring its data."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        owner, created = User.objects.get_or_create(username=DEMO_OWNER[0], defaults={"email": "owner@example.com"})
        if created:
            owner.set_password(DEMO_OWNER[1])
            owner.save()
        staff, created = User.objects.get_or_create(
            username=DEMO_STAFF[0], defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True}
        )
        if created:
            staff.set_password(DEMO_STAFF[1])
            staff.save()

        org, org_created = Organization.objects.get_or_create(
            slug=DEMO_ORG_SLUG, defaults={"name": "Demo Dental", "default_phone_region": "US"}
        )
        Membership.objects.get_or_create(user=owner, organization=org, defaults={"role": Membership.Role.OWNER})
        if org_created:
            self._seed_crm(org)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: organization '{org.name}', owner login {DEMO_OWNER[0]} / {DEMO_OWNER[1]}, "
                f"staff login {DEMO_STAFF[0]} / {DEMO_STAFF[1]}."
            )
        )

    def _seed_crm(self, org: Organization) -> None:
        for first, last, email, source in DEMO_CONTACTS:
            contact_create(organization=org, first_name=first, last_name=last, email=email, source=source)
        assert Contact.objects.for_org(org).count() == len(DEMO_CONTACTS)
