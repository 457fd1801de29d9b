"""Runs of the built-in agent: the instruction, every model turn and tool call, tokens, time and outcome."""
from django.db import models
from django.utils import timezone

from tenancy.models import TenantModel


class AgentRun(TenantModel):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.REFUSED)

    class Source(models.TextChoices):
        API = "api", "API"
        OWNER = "owner", "Owner (Ask the agent)"
        TRIGGER = "trigger", "Trigger"

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="runs")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    instruction = models.TextField(blank=True)
    # Voice runs: the transcript is the instruction; the audio itself is not kept.
    audio_name = models.CharField(max_length=255, blank=True)
    transcript = models.TextField(blank=True)
    contact = models.ForeignKey("crm.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                help_text="The contact the run is about (a trigger's contact), for the timeline.")
    model = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    failure_reason = models.TextField(blank=True)
    reply = models.TextField(blank=True, help_text="The model's final answer.")
    model_calls = models.PositiveIntegerField(default=0)
    tool_calls = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="agents_run_org_recent")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"


class AgentRunStep(TenantModel):
    """One model turn or one tool call of a run, in order."""

    class Kind(models.TextChoices):
        MODEL = "model", "Model turn"
        TOOL = "tool", "Tool call"

    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # Model turns: what it said and the tool calls it asked for (id, name, arguments as sent).
    content = models.TextField(blank=True)
    requested_calls = models.JSONField(default=list, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Tool calls: the dispatcher's answer (the audit row is the dispatcher's own ToolCall).
    tool = models.CharField(max_length=64, blank=True)
    call_id = models.CharField(max_length=128, blank=True)
    arguments = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    ok = models.BooleanField(default=True)
    latency_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run_id", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="uniq_agent_run_step_index")]

    def __str__(self) -> str:
        return f"{self.kind} {self.tool or ''} #{self.index}"
