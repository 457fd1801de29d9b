from django.contrib import admin

from .models import ChannelBinding


@admin.register(ChannelBinding)
class ChannelBindingAdmin(admin.ModelAdmin):
    """Which provider carries a channel for an organization (without a row, GHL's connection does)."""

    list_display = ["organization", "channel", "provider_key", "account_id", "is_active", "priority"]
    list_filter = ["channel", "provider_key", "is_active"]
    search_fields = ["organization__name", "account_id"]
