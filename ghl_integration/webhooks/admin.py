"""Admin for the webhook inbox (imported by ghl_integration/admin.py so autodiscovery finds it)."""
import json

from django.contrib import admin, messages
from django.utils.html import format_html

from ..models import WebhookEvent, WebhookRejection
from .processing import webhook_events_replay


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    """The webhook inbox: read-only, with a "replay" action."""

    list_display = ("id", "event_type", "status", "location_id", "webhook_id", "received_at", "attempts")
    list_filter = ("status", "event_type", "received_at", "location_id")
    search_fields = ("=webhook_id", "=location_id")
    date_hierarchy = "received_at"
    list_per_page = 100
    show_full_result_count = False  # COUNT(*) over a large inbox is slow
    actions = ("replay_events",)
    fields = (
        "event_type",
        "status",
        "webhook_id",
        "dedup_key",
        "location_id",
        "company_id",
        "connection",
        "organization",
        "delivered_at",
        "received_at",
        "queued_at",
        "processed_at",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "last_error",
        "signature_algorithm",
        "headers_pretty",
        "payload_pretty",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # view-only: events are GHL's record of what happened

    @admin.display(description="Headers")
    def headers_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.headers, indent=2, sort_keys=True))

    @admin.display(description="Payload")
    def payload_pretty(self, obj):
        try:
            text = json.dumps(json.loads(obj.body), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            text = obj.body
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", text)

    @admin.action(description="Replay: process the selected events again", permissions=("view",))
    def replay_events(self, request, queryset):
        count = webhook_events_replay(event_ids=queryset.values_list("pk", flat=True))
        skipped = queryset.count() - count
        self.message_user(request, f"Queued {count} event(s) for processing.", messages.SUCCESS)
        if skipped > 0:
            self.message_user(
                request, f"{skipped} event(s) are being processed right now; left alone.", messages.WARNING
            )


@admin.register(WebhookRejection)
class WebhookRejectionAdmin(admin.ModelAdmin):
    """Refused deliveries per day and reason (bad signature, stale timestamp, …)."""

    list_display = ("day", "reason", "count", "last_seen_at")
    list_filter = ("reason", "day")
    readonly_fields = ("day", "reason", "count", "last_seen_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
