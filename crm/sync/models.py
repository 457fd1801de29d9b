"""Sync bookkeeping models (imported by `crm.models`, so they live in the `crm` app and migrations)."""
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from tenancy.models import TenantModel


class OutboxEntry(TenantModel):
    """One local change waiting to be pushed to one external account.

    The primary key is the monotonically increasing sequence: entries are pushed in `id` order. At most
    one *pending or failed* entry exists per (object, account): later edits merge their changed fields
    into it (coalescing). An edit made while an entry is in progress creates a new entry, pushed after.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        FAILED = "failed", "Failed (will retry)"
        DEAD = "dead", "Dead (gave up)"
        SUPERSEDED = "superseded", "Superseded (merged into a newer entry)"

    provider = models.CharField(max_length=32)
    account_id = models.CharField(max_length=64)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.BigIntegerField()
    local_object = GenericForeignKey("content_type", "object_id")
    changed_fields = models.JSONField(default=list, help_text="Local field names changed since the last push.")
    # {field: ISO 8601 time of its last local edit}: "newest wins" compares each field's own edit time with the
    # remote's, not the contact's last save. Absent for fields queued by sync itself (a push-back, a repair).
    field_changed_at = models.JSONField(null=True, blank=True, help_text="When each field was last edited here.")
    change_count = models.PositiveIntegerField(default=1, help_text="Local changes coalesced into this entry.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="Lease of the worker pushing it.")
    last_error = models.TextField(blank=True)
    remote_id = models.CharField(max_length=128, blank=True)
    # Who asked for the change (opaque tags, e.g. an agent's tool call), carried through coalescing and
    # superseding so the work that pushes it can be traced back to them (`outbox_caused_by`).
    causes = models.JSONField(default=list, blank=True, help_text="Who asked for this change (e.g. a tool call).")
    request_ids = models.JSONField(default=list, blank=True,
                                   help_text="The remote's ids of the requests that pushed it (every attempt).")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "outbox entries"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "account_id", "content_type", "object_id"],
                condition=models.Q(status__in=["pending", "failed"]),
                name="uniq_open_outbox_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["provider", "account_id", "status", "next_attempt_at"], name="crm_outbox_claim"),
            models.Index(fields=["content_type", "object_id"], name="crm_outbox_object"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.provider}:{self.account_id} {self.content_type_id}/{self.object_id} {self.status}"

    @property
    def sequence(self) -> int:
        return self.pk


class Direction(models.TextChoices):
    BOTH = "both", "Both ways"
    INBOUND = "inbound", "Inbound only (remote → local)"
    OUTBOUND = "outbound", "Outbound only (local → remote)"


class DataType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Boolean"
    LIST = "list", "List of strings"
    PHONE = "phone", "Phone (E.164)"
    EMAIL = "email", "Email"
    DATETIME = "datetime", "Date and time"
    REFERENCE = "reference", "Reference (another record, by its remote id)"


class FieldMapping(TenantModel):
    """One remote field ↔ one local field of a kind of record for an (organisation, provider, account).

    Rows override the provider's default mapping for the same ``remote_key``; an inactive row switches a
    default off. ``local_field`` is a field of the kind's model or ``custom_properties.<key>``.
    """

    provider = models.CharField(max_length=32)
    account_id = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32, default="contact", help_text="The kind of record (contact, …).")
    remote_key = models.CharField(max_length=128, help_text="Standard field name (firstName) or custom field id/key.")
    remote_label = models.CharField(max_length=200, blank=True)
    local_field = models.CharField(max_length=128, help_text="e.g. first_name or custom_properties.plan")
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.BOTH)
    data_type = models.CharField(max_length=12, choices=DataType.choices, default=DataType.TEXT)
    options = models.JSONField(default=list, blank=True,
                               help_text="The values the remote allows (a picklist); empty: any value of the type.")
    is_active = models.BooleanField(default=True)
    last_error = models.TextField(blank=True, help_text="Why the remote (or validation) last rejected this field.")
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "account_id", "object_type", "remote_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "provider", "account_id", "object_type", "remote_key"],
                name="uniq_field_mapping_kind_remote_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remote_key} ↔ {self.local_field} ({self.get_direction_display()})"

    def clean(self):
        from django.core.exceptions import ValidationError

        from .kinds import kind_named
        from .mapping import validate_local_field

        try:
            model = kind_named(self.object_type).model
        except LookupError as exc:
            raise ValidationError({"object_type": str(exc)})
        try:
            validate_local_field(model, self.local_field)
        except ValidationError as exc:
            raise ValidationError({"local_field": exc.messages})


class ConflictPolicyChoice(models.TextChoices):
    REMOTE_WINS = "remote_wins", "Remote wins"
    LOCAL_WINS = "local_wins", "Local wins"
    NEWEST_WINS = "newest_wins", "Most recent change wins"
    MERGE_SETS = "merge_sets", "Merge as sets (lists only)"


class ConflictPolicy(TenantModel):
    """Per-field conflict policy for one kind of record of one (organisation, provider, account); field ``*``
    sets that kind's default."""

    provider = models.CharField(max_length=32)
    account_id = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32, default="contact", help_text="The kind of record (contact, …).")
    field = models.CharField(max_length=128, help_text="Local field name, custom_properties.<key>, or * for all.")
    policy = models.CharField(max_length=12, choices=ConflictPolicyChoice.choices)

    class Meta:
        ordering = ["provider", "account_id", "object_type", "field"]
        verbose_name_plural = "conflict policies"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "provider", "account_id", "object_type", "field"],
                name="uniq_conflict_policy_kind_field",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.field}: {self.policy}"


class SyncConflict(TenantModel):
    """Both sides changed one field since the last sync; the policy decided. Staff may override."""

    class Decision(models.TextChoices):
        LOCAL = "local", "Local value kept"
        REMOTE = "remote", "Remote value applied"
        MERGED = "merged", "Values merged"

    provider = models.CharField(max_length=32)
    account_id = models.CharField(max_length=64)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.BigIntegerField()
    local_object = GenericForeignKey("content_type", "object_id")
    external_id = models.CharField(max_length=128, blank=True)
    field = models.CharField(max_length=128)
    base_value = models.JSONField(null=True, blank=True, help_text="Value at the last sync (null: never synced).")
    local_value = models.JSONField(null=True, blank=True)
    remote_value = models.JSONField(null=True, blank=True)
    applied_value = models.JSONField(null=True, blank=True)
    local_changed_at = models.DateTimeField(null=True, blank=True)
    remote_changed_at = models.DateTimeField(null=True, blank=True)
    policy = models.CharField(max_length=12, choices=ConflictPolicyChoice.choices)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    decided_at = models.DateTimeField(default=timezone.now, db_index=True)
    overridden_at = models.DateTimeField(null=True, blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    override_decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="crm_conflict_object")]

    def __str__(self) -> str:
        target = self.local_object
        name = target if target is not None else f"{self.content_type.model} {self.object_id}"
        return f"{self.field} of {name}: {self.get_decision_display().lower()}"


class SyncRun(TenantModel):
    """One run of a sync job for one external account: what ran, how far it got, what it did."""

    class Kind(models.TextChoices):
        INITIAL_PULL = "initial_pull", "Initial pull"
        WEBHOOK = "webhook", "Webhook"
        PUSH = "push", "Push"
        RECONCILE = "reconcile", "Reconciliation"
        DELETION_SWEEP = "deletion_sweep", "Deletion sweep"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    COUNT_FIELDS = ("created", "updated", "linked", "archived", "conflicted", "failed", "unchanged")

    provider = models.CharField(max_length=32)
    account_id = models.CharField(max_length=64)
    connection_id = models.BigIntegerField(null=True, blank=True)
    object_type = models.CharField(max_length=32, default="contact")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    linked = models.PositiveIntegerField(default=0)
    archived = models.PositiveIntegerField(default=0)
    conflicted = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(
        default=0, help_text="Records with a value that validation refused (not stored), or that failed to apply.")
    refusal_samples = models.JSONField(
        default=list, blank=True, help_text="The first refusals: [{external_id, error}], for staff to look at.")
    cursor = models.JSONField(null=True, blank=True, help_text="Where a resumable run continues from.")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(
                fields=["organization", "provider", "account_id", "kind", "-started_at"], name="crm_syncrun_latest"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.account_id} {self.status}"

    @property
    def percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(self.progress_done * 100 / self.progress_total))


class RemoteChange(TenantModel):
    """One change applied here from a remote (a webhook, a pull, a reconciliation): the inbound half of a
    record's sync history (the outbound half is its `OutboxEntry` rows).

    Written by `crm.sync.inbound` in the apply's transaction, one row per record a change was applied to:
    which fields went from what to what (local names, canonical values), and the conflicts decided. The
    records a page of a pull creates in bulk get one summary row per page instead (``object_id`` null,
    ``count`` of them, ``applied_at`` the very moment written as their ``created_at``), so the `COPY` of a
    100,000-contact pull does not write 100,000 more rows. Pruned after ``CRM_SYNC_HISTORY_RETENTION_DAYS``.
    """

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        PULL = "pull", "Initial pull"
        RECONCILE = "reconcile", "Reconciliation"
        SWEEP = "sweep", "Deletion sweep"
        READ = "read", "Read"  # one record read on demand (a duplicate found, a confirming read)

    class Outcome(models.TextChoices):
        CREATED = "created", "Created here"
        UPDATED = "updated", "Updated"
        LINKED = "linked", "Linked to an existing record"
        ARCHIVED = "archived", "Archived (deleted there)"

    provider = models.CharField(max_length=32)
    account_id = models.CharField(max_length=64)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, db_index=False)
    object_id = models.BigIntegerField(null=True, blank=True, help_text="Null: a page's summary of created records.")
    external_id = models.CharField(max_length=128, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    changes = models.JSONField(default=dict, blank=True, help_text="{field: [old, new]} in local names.")
    conflicts = models.JSONField(default=list, blank=True, help_text="[{field, decision}] decided by this apply.")
    count = models.PositiveIntegerField(default=1, help_text="Records this row stands for (a page summary: many).")
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-applied_at", "-id"]
        indexes = [
            # A record's history, newest first; with object_id null, the page summaries by moment.
            models.Index(fields=["content_type", "object_id", "-applied_at"], name="crm_remotechange_object"),
            models.Index(fields=["applied_at"], name="crm_remotechange_prune"),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} from {self.provider} ({self.get_source_display()})"
