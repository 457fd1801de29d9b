"""Agents, their API keys, the audit of every tool call, and idempotency records.

Every row belongs to one organization (`TenantModel`): a key acts only inside its own organization.
"""
import uuid

from django.db import models
from django.utils import timezone

from tenancy.models import TenantModel

# The tool families an agent can be given; each is one module in `agents/tools/`.
TOOL_FAMILIES = ("contacts", "messaging", "opportunities", "calendar", "context")


def _all_families() -> list[str]:
    return list(TOOL_FAMILIES)


class Agent(TenantModel):
    class OffHours(models.TextChoices):
        WAIT = "wait", "Wait until business hours open"
        ANSWER = "answer", "Answer anyway"
        SKIP = "skip", "Do nothing"

    class WritePolicy(models.TextChoices):
        # Issue #18 adds approval policies; the dispatcher's `write_policy_check` is where they act.
        AUTO = "auto", "Writes run at once"
        APPROVE_RISKY = "approve_risky", "Approve destructive and money changes"
        APPROVE_WRITES = "approve_writes", "Approve every write"
        READ_ONLY = "read_only", "Reads only (writes refused)"

    name = models.CharField(max_length=120)
    instructions = models.TextField(blank=True)
    enabled_families = models.JSONField(default=_all_families, blank=True,
                                        help_text=f"Tool families this agent may call: {', '.join(TOOL_FAMILIES)}.")
    write_policy = models.CharField(max_length=16, choices=WritePolicy.choices, default=WritePolicy.AUTO)
    model = models.CharField(max_length=200, blank=True,
                             help_text="The chat model this agent's runs use; empty = AGENT_LLM_MODEL.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Behaving like a good employee (triggers): see agents/triggers/README.md.
    burst_seconds = models.PositiveIntegerField(default=5, help_text="Wait this long for more inbound messages "
                                                                     "before answering them once.")
    takeover_minutes = models.PositiveIntegerField(default=60, help_text="Stand down on a conversation this long "
                                                                         "after a person replies from GHL.")
    business_hours = models.JSONField(default=list, blank=True, help_text='[{"days": [1..5] (0=Sunday), "open": '
                                      '"09:00", "close": "17:00"}] in the organization\'s zone; empty = always.')
    off_hours = models.CharField(max_length=8, choices=OffHours.choices, default=OffHours.WAIT)
    max_runs_per_contact_hour = models.PositiveIntegerField(default=5, help_text="Trigger runs per contact per hour.")

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="uniq_agent_name_in_org")]

    def __str__(self) -> str:
        return self.name

    @property
    def business_hours_json(self) -> str:
        import json

        return json.dumps(self.business_hours)


class ApiKey(TenantModel):
    """A bearer key: `al_<prefix>_<secret>`. Only the SHA-256 of the whole key is stored; it is shown once."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part, shown in lists and the audit.")
    key_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=120, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(default=120)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"al_{self.prefix}_…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ToolCall(TenantModel):
    """The audit: one row per call on any surface. `input` is stored with secrets redacted."""

    class Surface(models.TextChoices):
        REST = "rest", "REST"
        MCP = "mcp", "MCP"
        RUNNER = "runner", "Runner"

    agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="tool_calls")
    key_prefix = models.CharField(max_length=16, blank=True)
    surface = models.CharField(max_length=8, choices=Surface.choices)
    tool = models.CharField(max_length=64)
    input = models.JSONField(default=dict, blank=True)
    ok = models.BooleanField(default=False)
    error_code = models.CharField(max_length=32, blank=True)
    outcome = models.CharField(max_length=32, blank=True, help_text="e.g. confirmed, queued, dry_run, replayed")
    dry_run = models.BooleanField(default=False)
    idempotency_key = models.CharField(max_length=255, blank=True)
    # Links the row to the outbox entries its writes recorded (their `causes`), so a push made later by a worker
    # adds GHL's request ids here.
    call_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    contact = models.ForeignKey("crm.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                help_text="The person the call concerned (resolved, created, or the contact of "
                                          "the deal or appointment).")
    run = models.ForeignKey("agents.AgentRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                            help_text="The built-in agent's run that made the call (surface runner).")
    ghl_ids = models.JSONField(default=list, blank=True, help_text="GHL records this call touched or confirmed.")
    ghl_request_ids = models.JSONField(default=list, blank=True,
                                       help_text="GHL's traceIds of every request made for this call: during it, and "
                                                 "by the workers that pushed its writes later.")
    latency_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="agents_toolcall_org_recent")]

    def __str__(self) -> str:
        return f"{self.tool} ({self.surface}) {'ok' if self.ok else self.error_code}"


class IdempotencyRecord(TenantModel):
    """The first answer to a write sent with an idempotency key (Stripe's model: key + request hash)."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    tool = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    response = models.JSONField(null=True, blank=True, help_text="Empty while the first request is running.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "key"], name="uniq_idempotency_key_per_agent")]


from .approvals.models import PendingAction  # noqa: E402,F401
from .runner.models import AgentRun, AgentRunStep  # noqa: E402,F401  (the runner's rows, in this app)
from .triggers.models import HumanTakeover, Trigger, TriggerDelivery  # noqa: E402,F401
