from django.db import models
from django.utils import timezone

from crm.models import ChannelType
from tenancy.models import TenantModel


class ChannelBinding(TenantModel):
    """Which provider serves an organization's channel type (and from which provider account).

    Without a row, the router asks the registered providers for a default (GHL offers its active connection).
    """

    channel = models.CharField(max_length=10, choices=ChannelType.choices)
    provider_key = models.CharField(max_length=32)
    account_id = models.CharField(max_length=64, blank=True, help_text="The provider's account, e.g. a GHL location.")
    is_active = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(default=0, help_text="Lower first.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "channel", "provider_key"],
                                    name="uniq_channel_binding"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} via {self.provider_key}"
