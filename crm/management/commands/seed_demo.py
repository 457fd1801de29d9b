"""Create the demo organization, its owner, a staff login and some CRM data. Safe to run repeatedly."""
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from crm.models import Contact, Message, Opportunity, Pipeline
from crm.services.calendars import appointment_create, calendar_create
from crm.services.contacts import contact_create
from crm.services.conversations import message_record
from crm.services.pipelines import opportunity_create, pipeline_create
from tenancy.models import Membership, Organization

DEMO_ORG_SLUG = "demo-dental"
DEMO_OWNER = ("demo-owner", "demo-password")
DEMO_STAFF = ("admin", "admin-password")

DEMO_CONTACTS = [
    ("Jane", "Doe", "jane.doe@example.com", "(503) 555-0142", "Doe Family Dental"),
    ("John", "Smith", "john.smith@example.com", "503-555-0177", "Acme Corp"),
    ("Maria", "Lopez", "maria.lopez@example.com", "+1 503 555 0190", "Northwind Dental"),
    ("Wei", "Chen", "wei.chen@example.com", "5035550111", ""),
    ("Amara", "Okafor", "amara.okafor@example.com", "", "Okafor Consulting"),
]


class Command(BaseCommand):
    help = "Create a demo organization with an owner login (demo-owner / demo-password) and some CRM data."

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
        contacts = [
            contact_create(
                organization=org, first_name=first, last_name=last, email=email, phone=phone, company_name=company,
                source="demo seed",
            )
            for first, last, email, phone, company in DEMO_CONTACTS
        ]
        pipeline: Pipeline = pipeline_create(
            organization=org, name="Sales", stage_names=["New Lead", "Contacted", "Proposal Sent", "Negotiation"]
        )
        stages = list(pipeline.stages.order_by("position"))
        opportunity_create(
            organization=org, name="Acme deal", pipeline=pipeline, stage=stages[1], contact=contacts[1],
            monetary_value="12500.00",
        )
        opportunity_create(
            organization=org, name="Invisalign consult", pipeline=pipeline, stage=stages[0], contact=contacts[2],
            monetary_value="4800",
        )
        opportunity_create(
            organization=org, name="Doe family plan", pipeline=pipeline, stage=stages[2], contact=contacts[0],
            monetary_value="2200", status=Opportunity.Status.OPEN,
        )
        calendar = calendar_create(organization=org, name="Consultations", timezone_name="America/Los_Angeles")
        start = (timezone.now() + timedelta(days=2)).replace(hour=17, minute=0, second=0, microsecond=0)
        appointment_create(
            organization=org, calendar=calendar, contact=contacts[0], starts_at=start,
            ends_at=start + timedelta(minutes=30), title="Initial consultation",
        )
        message_record(
            contact=contacts[0], channel="sms", direction=Message.Direction.INBOUND,
            body="Hi, can I move my appointment to Friday?", status=Message.Status.RECEIVED,
        )
        assert Contact.objects.for_org(org).count() == len(DEMO_CONTACTS)
