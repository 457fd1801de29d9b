"""Triggers: per-organization rules that turn business events (crm.events) into agent work, and their log."""
from django.db import models
from django.utils import timezone
from encrypted_fields.fields import EncryptedTextField

from crm import events
from tenancy.models import TenantModel

EVENT_CHOICES = [
    (events.MESSAGE_RECEIVED, "Message received"),
    (events.CONTACT_CREATED, "Contact created"),
    (events.CONTACT_TAG_ADDED, "Tag added"),
    (events.OPPORTUNITY_STAGE_CHANGED, "Opportunity stage changed"),
    (events.OPPORTUNITY_STATUS_CHANGED, "Opportunity status changed"),
    (events.APPOINTMENT_BOOKED, "Appointment booked"),
    (events.APPOINTMENT_CANCELLED, "Appointment cancelled"),
    (events.APPOINTMENT_NO_SHOW, "Appointment no-show"),
]


class Trigger(TenantModel):
    class Action(models.TextChoices):
        RUN_AGENT = "run_agent", "Run the built-in agent"
        CALLBACK = "callback", "Call our own agent runtime (signed HTTPS callback)"

    name = models.CharField(max_length=120)
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="triggers",
                              help_text="The agent that acts (and whose good-employee settings apply).")
    event = models.CharField(max_length=40, choices=EVENT_CHOICES)
    # Filters: empty matches everything.
    channel = models.CharField(max_length=16, blank=True, help_text="Message channel, e.g. sms, email, whatsapp.")
    tag = models.CharField(max_length=100, blank=True)
    pipeline = models.ForeignKey("crm.Pipeline", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    stage = models.ForeignKey("crm.PipelineStage", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    calendar = models.ForeignKey("crm.Calendar", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.RUN_AGENT)
    instruction_template = models.TextField(blank=True, help_text="Placeholders like {contact.name} and "
                                                                 "{message.body}; see the agents page.")
    callback_url = models.URLField(max_length=500, blank=True)
    # Shown once to the owner; the receiver verifies the HMAC with it.
    callback_secret = EncryptedTextField(blank=True, null=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="uniq_trigger_name_in_org")]

    def __str__(self) -> str:
        return self.name


class TriggerDelivery(TenantModel):
    """One firing of a trigger: run started, callback delivered (with attempts), or skipped and why."""

    class Status(models.TextChoices):
        GATHERING = "gathering", "Gathering a burst of messages"
        PENDING = "pending", "Pending"
        RAN = "ran", "Agent run started"
        DELIVERED = "delivered", "Callback delivered"
        RETRYING = "retrying", "Callback failed; retrying"
        DEAD = "dead", "Callback given up"
        SKIPPED = "skipped", "Skipped"

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    contact = models.ForeignKey("crm.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    data = models.JSONField(default=dict, blank=True, help_text="The event's data (a burst: its messages).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.TextField(blank=True, help_text="Why it was skipped, or the last callback error.")
    run = models.ForeignKey("agents.AgentRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    due_at = models.DateTimeField(default=timezone.now, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(default=timezone.now, help_text="Retries stop a day after this "
                                                                            "(a replay starts a new day).")
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "trigger deliveries"
        indexes = [models.Index(fields=["organization", "-created_at"], name="agents_trigdel_org_recent")]
        # One burst is gathered per trigger and contact at a time: concurrent messages join the same one.
        constraints = [models.UniqueConstraint(fields=["trigger", "contact"], condition=models.Q(status="gathering"),
                                               name="uniq_gathering_burst_per_trigger_contact")]

    def __str__(self) -> str:
        return f"{self.trigger} → {self.status}"


class HumanTakeover(TenantModel):
    """When a person last wrote to a contact from GHL: agents stand down on that conversation for a while."""

    contact = models.OneToOneField("crm.Contact", on_delete=models.CASCADE, related_name="+")
    last_human_reply_at = models.DateTimeField()
