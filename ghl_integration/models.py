"""GoHighLevel connection state: one row per organization ↔ GHL location (or agency) link."""

from django.conf import settings
from django.db import models
from encrypted_fields.fields import EncryptedTextField

from tenancy.models import TenantModel


class GhlConnection(TenantModel):
    """One organization's link to a GHL sub-account (Location) or agency (Company).

    Tokens are encrypted at rest. Refresh tokens are single-use, so only
    `ghl_integration.connections` may write them, under a row lock.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_REAUTHORIZATION = "needs_reauthorization", "Needs reauthorization"
        DISCONNECTED = "disconnected", "Disconnected"
        UNINSTALLED = "uninstalled", "Uninstalled"

    class TokenLevel(models.TextChoices):
        LOCATION = "Location", "Location (sub-account)"
        COMPANY = "Company", "Company (agency)"

    location_id = models.CharField(max_length=64, blank=True, db_index=True)
    location_name = models.CharField(max_length=255, blank=True)
    company_id = models.CharField(max_length=64, blank=True, db_index=True)
    token_level = models.CharField(max_length=10, choices=TokenLevel.choices, default=TokenLevel.LOCATION)
    scopes = models.TextField(blank=True, help_text="Space-separated scopes granted by GHL.")
    access_token = EncryptedTextField(blank=True, null=True)
    refresh_token = EncryptedTextField(blank=True, null=True)
    token_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    # An agency connection mints location tokens for the locations assigned to organizations.
    agency_connection = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="location_connections"
    )
    ghl_user_id = models.CharField(max_length=64, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Per-connection switches and sync policy.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "GHL connection"
        ordering = ["organization__name", "location_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "location_id"],
                condition=models.Q(status="active"),
                name="uniq_active_connection_per_org_location",
            ),
        ]

    def __str__(self) -> str:
        label = self.location_name or self.location_id or self.company_id or "GHL"
        return f"{label} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_agency(self) -> bool:
        return self.token_level == self.TokenLevel.COMPANY


class GhlAppInstallState(models.Model):
    """The newest install/uninstall we know of for a GHL location or company (from webhooks or OAuth).

    INSTALL may arrive before or after the OAuth callback; keeping this per resource, ordered by the
    event's own time, makes both orders end in the same state.
    """

    resource_id = models.CharField(max_length=64, unique=True, help_text="GHL location id or company id.")
    installed = models.BooleanField(default=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "GHL app install state"

    def __str__(self) -> str:
        return f"{self.resource_id}: {'installed' if self.installed else 'uninstalled'}"


class GhlAgencyLocation(models.Model):
    """A location of an agency (Company-level) connection where our app is installed.

    Staff assign it to an organization in admin; the assignment mints a location token from the agency
    token and creates that organization's location connection.
    """

    agency_connection = models.ForeignKey(GhlConnection, on_delete=models.CASCADE, related_name="agency_locations")
    location_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255, blank=True)
    address = models.CharField(max_length=255, blank=True)
    is_installed = models.BooleanField(default=True)
    assigned_organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    location_connection = models.ForeignKey(
        GhlConnection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    assignment_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "GHL agency location"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["agency_connection", "location_id"], name="uniq_agency_location"),
        ]

    def __str__(self) -> str:
        return self.name or self.location_id


class WebhookEvent(models.Model):
    """One webhook delivery from GHL, stored (raw) before it is acknowledged, then processed by a worker.

    Not a `TenantModel`: the organization is unknown when the event arrives. The worker fills in
    `connection`/`organization` from the active connection for `location_id`.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"  # stored, waiting for a worker
        PROCESSING = "processing", "Processing"  # claimed by a worker (until lease_expires_at)
        PROCESSED = "processed", "Processed"  # a handler ran successfully
        IGNORED = "ignored", "Ignored"  # no handler (deliberately ignored or unknown event type)
        SKIPPED = "skipped", "Skipped"  # no active connection for the location
        FAILED = "failed", "Failed"  # a retryable failure; retried at next_attempt_at
        DEAD = "dead", "Dead"  # permanent failure or out of attempts; replay from the admin

    FINISHED = (Status.PROCESSED, Status.IGNORED, Status.SKIPPED, Status.DEAD)

    # "id:<webhookId>" or "sha256:<content hash>"; unique so a duplicate delivery fails the INSERT itself.
    # Cleared after GHL_WEBHOOK_DEDUP_RETENTION_HOURS (NULLs do not collide).
    dedup_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    webhook_id = models.CharField(max_length=255, blank=True)
    event_type = models.CharField(max_length=64, db_index=True)
    location_id = models.CharField(max_length=64, blank=True, db_index=True)
    company_id = models.CharField(max_length=64, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="GHL's `timestamp` for this delivery.")
    received_at = models.DateTimeField(db_index=True)
    body = models.TextField(help_text="The raw request body (UTF-8 JSON), exactly as signed.")
    headers = models.JSONField(default=dict, blank=True)
    signature_algorithm = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    connection = models.ForeignKey(GhlConnection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "GHL webhook event"
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "queued_at"], name="ghl_webhook_status_queued")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.webhook_id or self.pk} ({self.status})"


class WebhookRejection(models.Model):
    """Per-day counter of refused deliveries (bad signature, stale timestamp, …), for the admin.

    Refused bodies are never stored as events: they may be forged.
    """

    day = models.DateField()
    reason = models.CharField(max_length=40)
    count = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField()

    class Meta:
        verbose_name = "GHL webhook rejection"
        ordering = ["-day", "reason"]
        constraints = [models.UniqueConstraint(fields=["day", "reason"], name="uniq_webhook_rejection_day_reason")]

    def __str__(self) -> str:
        return f"{self.day} {self.reason}: {self.count}"
