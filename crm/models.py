"""The CRM ontology: provider-neutral records as a real CRM holds them.

Nothing here knows GoHighLevel. Links to any external system live in `ExternalIdentity`.
Rows are never destroyed by sync: deletes archive (`is_archived`).
"""
from decimal import Decimal

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from tenancy.models import Organization, TenantModel, TenantQuerySet


class ArchivableQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(is_archived=False)

    def delete(self):
        raise TypeError("CRM rows are archived, never deleted: use the archive service")


ArchivableManager = models.Manager.from_queryset(ArchivableQuerySet)


class ArchivableModel(TenantModel):
    is_archived = models.BooleanField(default=False, db_index=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ArchivableManager()

    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):
        raise TypeError("CRM rows are archived, never deleted: use the archive service")


class Contact(ArchivableModel):
    # Every contact query is scoped to its organisation, and the indexes in Meta lead with it; the
    # single-column indexes these fields carry elsewhere would each be one more index update per inserted
    # row, which an initial pull of tens of thousands of contacts pays for in its last, CPU-bound seconds.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    full_name = models.CharField(max_length=301, blank=True)
    email = models.EmailField(max_length=254, blank=True, help_text="Stored lower-cased.")
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +15035550142.")
    additional_emails = models.JSONField(default=list, blank=True)
    additional_phones = models.JSONField(default=list, blank=True, help_text="E.164 numbers.")
    company_name = models.CharField(max_length=200, blank=True)
    address1 = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=120, blank=True)
    state = models.CharField(max_length=120, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2.")
    website = models.CharField(max_length=255, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    dnd_all = models.BooleanField("Do not disturb (all channels)", default=False)
    dnd_sms = models.BooleanField("DND: SMS", default=False)
    dnd_email = models.BooleanField("DND: email", default=False)
    dnd_whatsapp = models.BooleanField("DND: WhatsApp", default=False)
    dnd_call = models.BooleanField("DND: calls", default=False)
    source = models.CharField(max_length=200, blank=True)
    custom_properties = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["full_name", "id"]
        indexes = [
            models.Index(fields=["organization", "email"], name="crm_contact_org_email"),
            models.Index(fields=["organization", "phone"], name="crm_contact_org_phone"),
            models.Index(fields=["organization", "updated_at"], name="crm_contact_org_updated"),
            models.Index(fields=["organization", "full_name", "id"], name="crm_contact_org_name"),  # lists
            # The few contacts with additional emails or phones, which a synced page is matched against too
            # (`crm.sync.kinds.contact_page._bulk_match`): the same condition as that query, so it need not scan
            # every contact of the organisation on each page.
            models.Index(fields=["organization"], condition=~models.Q(additional_emails=[], additional_phones=[]),
                         name="crm_contact_org_more_ids"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.phone or f"Contact {self.pk}"

    DND_CHANNELS = ("sms", "email", "whatsapp", "call")

    def is_reachable_on(self, channel: str) -> bool:
        return not (self.dnd_all or getattr(self, f"dnd_{channel}", False))


class Pipeline(ArchivableModel):
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class PipelineStage(TenantModel):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    # A stage removed in the CRM is archived, never deleted: its opportunities keep pointing at it (they show
    # where they were); archived stages sort after the live ones.
    is_archived = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pipeline", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "position"], name="uniq_stage_position_in_pipeline"),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline.name} › {self.name}"


class CrmUser(ArchivableModel):
    """A user of the business's CRM account (a GHL user of the location): whom a deal is assigned to.

    Not a login of ours: mirrored so an assignee is a name, linked through `ExternalIdentity`."""

    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(max_length=254, blank=True, help_text="Stored lower-cased.")
    phone = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "CRM user"

    def __str__(self) -> str:
        return self.name or self.email or f"User {self.pk}"


class LostReason(ArchivableModel):
    """One of the account's reasons a deal was lost (GHL's lost reasons), mirrored so a reason is a name."""

    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Opportunity(ArchivableModel):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won"
        LOST = "lost", "Lost"
        ABANDONED = "abandoned", "Abandoned"

    name = models.CharField(max_length=255)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="opportunities", null=True, blank=True)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="opportunities")
    stage = models.ForeignKey(PipelineStage, on_delete=models.PROTECT, related_name="opportunities")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    monetary_value = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217.")
    assignee = models.ForeignKey(CrmUser, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    lost_reason = models.ForeignKey(LostReason, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    source = models.CharField(max_length=200, blank=True)
    custom_properties = models.JSONField(default=dict, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    stage_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "id"]
        verbose_name_plural = "opportunities"
        indexes = [models.Index(fields=["organization", "pipeline", "status"], name="crm_opp_org_pipeline_status")]

    def __str__(self) -> str:
        return self.name


class Calendar(ArchivableModel):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    calendar_type = models.CharField(max_length=32, blank=True, help_text="e.g. event, round_robin, collective.")
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA zone its open hours are read in.")
    slot_duration_minutes = models.PositiveIntegerField(default=30)
    slot_interval_minutes = models.PositiveIntegerField(default=30)
    open_hours = models.JSONField(
        default=list, blank=True,
        help_text='[{"days": [1..5] (0=Sunday), "hours": [{"open": "09:00", "close": "17:00"}]}], local times.',
    )
    team_members = models.JSONField(
        default=list, blank=True, help_text='[{"external_id": ..., "priority": 0.5, "is_primary": true}]'
    )
    allow_reschedule = models.BooleanField(default=True)
    allow_cancellation = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Appointment(ArchivableModel):
    class Status(models.TextChoices):
        NEW = "new", "New"
        CONFIRMED = "confirmed", "Confirmed"
        CANCELLED = "cancelled", "Cancelled"
        SHOWED = "showed", "Showed"
        NO_SHOW = "noshow", "No-show"
        INVALID = "invalid", "Invalid"

    calendar = models.ForeignKey(Calendar, on_delete=models.PROTECT, related_name="appointments")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="appointments")
    title = models.CharField(max_length=255, blank=True)
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW, db_index=True)
    notes = models.TextField(blank=True)
    location = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="appointment_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Appointment {self.pk}"


class AppointmentRequest(TenantModel):
    """One booking command (book, reschedule, cancel) under a caller's idempotency key.

    A key that succeeded replays its appointment; the same key with another request is refused. A command that
    failed leaves no row, so retrying it runs it again (nothing was booked, or the provider search finds it).
    """

    class Action(models.TextChoices):
        BOOK = "book", "Book"
        RESCHEDULE = "reschedule", "Reschedule"
        CANCEL = "cancel", "Cancel"

    key = models.CharField(max_length=255)
    action = models.CharField(max_length=12, choices=Action.choices)
    request_hash = models.CharField(max_length=64)
    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="requests")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="uniq_appointment_request_key"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.key}"


class ChannelType(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"
    WHATSAPP = "whatsapp", "WhatsApp"
    CALL = "call", "Call"
    OTHER = "other", "Other"


# Channels that share one conversation with a contact: texts and calls to one phone number are one thread,
# email is another, WhatsApp another (its own 24-hour window and templates).
CHANNEL_FAMILIES = {"sms": "phone", "call": "phone", "email": "email", "whatsapp": "whatsapp", "other": "other"}


def channel_family(channel: str) -> str:
    return CHANNEL_FAMILIES.get(channel, "other")


class Conversation(ArchivableModel):
    """One contact's thread on one channel family (`CHANNEL_FAMILIES`): unique per contact and family."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations")
    channel_family = models.CharField(max_length=16, default="phone")
    provider = models.CharField(max_length=32, blank=True)
    provider_conversation_id = models.CharField(
        max_length=128, blank=True, help_text="The provider's conversation (GHL: one per contact, all channels)."
    )
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    unread_count = models.PositiveIntegerField(default=0)
    unread_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="Watermark of the newest provider unread-count update applied."
    )

    class Meta:
        ordering = ["-last_message_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "contact", "channel_family"],
                                    name="uniq_conversation_contact_family"),
        ]
        indexes = [
            models.Index(fields=["organization", "provider", "provider_conversation_id"],
                         name="crm_conv_provider_id"),
        ]

    def __str__(self) -> str:
        return f"Conversation with {self.contact} ({self.channel_family})"


class Message(TenantModel):
    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # written, not yet handed to the provider
        QUEUED = "queued", "Queued"  # handed to the provider, its answer not yet stored
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"
        UNDELIVERED = "undelivered", "Undelivered"
        RECEIVED = "received", "Received"

    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        CALL = "call", "Call"
        VOICEMAIL = "voicemail", "Voicemail"

    class SenderType(models.TextChoices):
        CONTACT = "contact", "Contact"
        AGENT = "agent", "Agent"
        USER = "user", "Person"  # an organization member, here or in the provider's app
        WORKFLOW = "workflow", "Workflow"  # the provider's automations, campaigns, bulk actions
        SYSTEM = "system", "System"  # an API integration we cannot attribute

    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="messages")
    channel = models.CharField(max_length=10, choices=ChannelType.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MESSAGE)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    html = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True, help_text="URLs.")
    meta = models.JSONField(default=dict, blank=True, help_text="cc, bcc, from, reply_to, call duration/status.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    sender_type = models.CharField(max_length=10, choices=SenderType.choices, blank=True)
    sender_ref = models.CharField(max_length=128, blank=True, help_text="Agent id, or the provider's user id.")
    provider = models.CharField(max_length=32, blank=True)
    provider_message_id = models.CharField(max_length=128, blank=True)
    provider_thread_id = models.CharField(max_length=128, blank=True, help_text="Email thread (GHL threadId).")
    provider_email_message_id = models.CharField(max_length=128, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    send_started_at = models.DateTimeField(null=True, blank=True, help_text="When the provider was last asked.")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # The provider's id is how its webhook echo of our own send, and a repeated delivery, are recognised.
            models.UniqueConstraint(fields=["organization", "provider", "provider_message_id"],
                                    condition=~models.Q(provider_message_id=""), name="uniq_message_provider_id"),
            models.UniqueConstraint(fields=["organization", "idempotency_key"],
                                    condition=~models.Q(idempotency_key=""), name="uniq_message_idempotency_key"),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="crm_message_conv_created"),
            models.Index(fields=["organization", "provider_email_message_id"],
                         condition=~models.Q(provider_email_message_id=""), name="crm_message_email_id"),
            # The polling fallback's scan: outbound messages still waiting for a final status.
            models.Index(fields=["status", "send_started_at"], condition=models.Q(direction="outbound"),
                         name="crm_message_outbound_open"),
            # The conversations' freshness in the mirror summary: the newest change of a message the provider has.
            models.Index(fields=["organization", "updated_at"], condition=~models.Q(provider_message_id=""),
                         name="crm_message_org_changed"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.get_channel_display()} #{self.pk}"


class ExternalIdentity(TenantModel):
    """Links one ontology row to its id in one external system.

    Keyed by the external *account* (for GHL: the location id), not by the connection row, so a
    location that is disconnected and connected again finds its links intact. Unique both ways:
    one external id maps to one local row, and one local row has at most one id per account.
    """

    # Indexed through crm_extid_org_kind_synced (organization first), not on its own: see Contact.organization.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    provider = models.CharField(max_length=32)
    account_id = models.CharField(max_length=64, help_text="External account namespace, e.g. a GHL location id.")
    connection_id = models.BigIntegerField(
        null=True, blank=True, help_text="Provider connection that last wrote this link (informational)."
    )
    # Indexed through crm_extid_local_lookup (content type first), not on its own: see Contact.organization.
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, db_index=False)
    object_id = models.BigIntegerField()
    local_object = GenericForeignKey("content_type", "object_id")
    external_id = models.CharField(max_length=128)
    # Sync bookkeeping.
    content_hash = models.CharField(max_length=64, blank=True, help_text="Hash of the content last synced.")
    synced_snapshot = models.JSONField(
        default=dict, blank=True, help_text="Mapped field values as last synced: the base of three-way merges."
    )
    remote_updated_at = models.DateTimeField(null=True, blank=True, help_text="Remote watermark: newest applied.")
    # The watermarks of the kind's separately ordered field groups (`SyncKind.mark_groups`, e.g. per-channel DND).
    group_marks = models.JSONField(
        default=dict, db_default={}, blank=True,  # db_default: rows written by raw SQL/COPY that omit it
        help_text="Watermark per separately ordered field group (group name → ISO time of the newest applied).")
    # Lets a push skip reading the record before writing it (the webhooks have told us its state).
    remote_seen_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When a webhook last confirmed the remote state we hold; cleared by each push until its echo.")
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "account_id", "content_type", "external_id"], name="uniq_external_id"
            ),
            models.UniqueConstraint(
                fields=["provider", "account_id", "content_type", "object_id"], name="uniq_local_object_per_account"
            ),
        ]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="crm_extid_local_lookup"),
            # An organization's links of one kind, newest agreement last: the mirror summary's counts and its
            # freshness (`MAX(last_synced_at)`) read it instead of every link (crm.selectors.mirror).
            models.Index(fields=["organization", "content_type", "last_synced_at"], name="crm_extid_org_kind_synced"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.account_id}:{self.content_type.model}:{self.external_id}"


# Sync bookkeeping lives in crm/sync/models.py; importing it here registers the models with the crm app.
from .sync.models import (  # noqa: E402, F401
    ConflictPolicy,
    FieldMapping,
    OutboxEntry,
    RemoteChange,
    SyncConflict,
    SyncRun,
)
