"""Admin for sync bookkeeping (registered from `crm.admin`)."""
from django.contrib import admin, messages

from .models import ConflictPolicy, FieldMapping, OutboxEntry, SyncConflict, SyncRun
from .outbox import outbox_retry_now
from .overrides import sync_conflict_override


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "provider", "account_id", "content_type", "object_id", "status",
                    "attempts", "next_attempt_at", "short_error", "created_at", "finished_at"]
    list_filter = ["status", "provider", "content_type", "organization"]
    search_fields = ["account_id", "=object_id", "remote_id", "last_error", "request_ids"]
    readonly_fields = [f.name for f in OutboxEntry._meta.fields]
    list_select_related = ["organization", "content_type"]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Last error")
    def short_error(self, obj):
        return (obj.last_error or "")[:80]

    @admin.action(description="Retry now (failed or dead entries)")
    def retry_now(self, request, queryset):
        for entry in queryset.filter(status__in=[OutboxEntry.Status.FAILED, OutboxEntry.Status.DEAD]):
            outbox_retry_now(entry=entry)
        self.message_user(request, "Queued for retry.", messages.SUCCESS)


@admin.register(FieldMapping)
class FieldMappingAdmin(admin.ModelAdmin):
    """Read-only here: a mapping (contact or opportunity kind) is changed on the owner's settings page, whose
    services keep the rules (no internal fields, DND always mapped, one GHL field per local field, an opportunity
    custom field onto a custom property) and re-apply it to the records."""

    list_display = ["remote_key", "remote_label", "local_field", "object_type", "direction", "data_type", "is_active",
                    "provider", "account_id", "organization", "last_error_at"]
    list_filter = ["provider", "object_type", "direction", "data_type", "is_active", "organization"]
    search_fields = ["remote_key", "remote_label", "local_field", "account_id", "last_error"]
    readonly_fields = ["last_error", "last_error_at", "created_at", "updated_at"]
    actions = ["clear_errors"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Clear recorded errors")
    def clear_errors(self, request, queryset):
        count = queryset.update(last_error="", last_error_at=None)
        self.message_user(request, f"Cleared {count}.", messages.SUCCESS)


@admin.register(ConflictPolicy)
class ConflictPolicyAdmin(admin.ModelAdmin):
    """Read-only here: the owner sets the policy on the connection's settings page, whose service validates it
    for the kind of record and keeps one row per field."""

    list_display = ["field", "object_type", "policy", "provider", "account_id", "organization"]
    list_filter = ["policy", "object_type", "provider", "organization"]
    search_fields = ["field", "account_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SyncConflict)
class SyncConflictAdmin(admin.ModelAdmin):
    list_display = ["decided_at", "organization", "account_id", "record", "field", "local_value", "remote_value",
                    "base_value", "policy", "decision", "override_decision", "overridden_at"]
    list_filter = ["decision", "policy", "override_decision", "provider", "field", "organization"]
    search_fields = ["field", "external_id", "=object_id", "account_id"]
    date_hierarchy = "decided_at"
    readonly_fields = [f.name for f in SyncConflict._meta.fields]
    list_select_related = ["organization", "content_type"]
    list_per_page = 50
    actions = ["apply_local_value", "apply_remote_value"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Record")
    def record(self, obj):
        # The row's name ("Jane Doe"), not its id: a conflict is read by the person it is about.
        target = obj.local_object
        return f"{target}" if target is not None else f"{obj.content_type.model} {obj.object_id} (gone)"

    def _override(self, request, queryset, side):
        for conflict in queryset:
            sync_conflict_override(conflict=conflict, side=side, user=request.user)
        self.message_user(request, f"Applied the {side} value to {queryset.count()} field(s).", messages.SUCCESS)

    @admin.action(description="Apply local value (and push it)")
    def apply_local_value(self, request, queryset):
        self._override(request, queryset, SyncConflict.Decision.LOCAL)

    @admin.action(description="Apply remote value")
    def apply_remote_value(self, request, queryset):
        self._override(request, queryset, SyncConflict.Decision.REMOTE)


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "organization", "provider", "account_id", "object_type", "kind", "status",
                    "progress", "created", "updated", "linked", "archived", "conflicted", "failed", "unchanged",
                    "refused", "requests", "finished_at"]
    list_filter = ["object_type", "kind", "status", "provider", "organization"]
    search_fields = ["account_id", "error"]
    date_hierarchy = "started_at"
    readonly_fields = [f.name for f in SyncRun._meta.fields]
    list_select_related = ["organization"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Requests")
    def requests(self, obj):
        """What the run cost in provider requests, for the jobs that count them (kept in their cursor)."""
        cursor = obj.cursor if isinstance(obj.cursor, dict) else {}
        return cursor.get("requests", "—")

    @admin.display(description="Progress")
    def progress(self, obj):
        if obj.progress_total:
            return f"{obj.progress_done}/{obj.progress_total} ({obj.percent}%)"
        return str(obj.progress_done)
