"""Pending actions: a write an agent may not do on its own, waiting for a person (suggestive mode)."""
import json

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenancy.models import TenantModel


class PendingAction(TenantModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved (running)"
        DONE = "done", "Approved and done"
        FAILED = "failed", "Approved; the tool answered an error"
        REJECTED = "rejected", "Rejected"

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="pending_actions")
    surface = models.CharField(max_length=8)
    tool = models.CharField(max_length=64)
    # Once decided, a file in the input is kept as its name, type, size and SHA-256 (`files_summarised`).
    arguments = models.JSONField(default=dict, help_text="The input the agent sent (without dry_run / key).")
    preview = models.JSONField(default=dict, help_text="The dry run's answer: exactly what would change.")
    idempotency_key = models.CharField(max_length=255, blank=True)
    contact = models.ForeignKey("crm.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    edited = models.BooleanField(default=False)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="The tool's answer once approved.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "status", "-created_at"], name="agents_pending_org_status")]

    def __str__(self) -> str:
        return f"{self.tool} ({self.status})"

    @property
    def arguments_shown(self):
        """The input as the page and admin show it: a file as its name, type, size and SHA-256, never its bytes."""
        from ..tools.dispatch import files_summarised

        return files_summarised(self.arguments)

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments_shown, indent=2, ensure_ascii=False)
