"""Staff manage agents and keys here and read the audit; keys are created through the service (shown once)."""
from django.contrib import admin, messages

from .models import (
    Agent,
    AgentRun,
    AgentRunStep,
    ApiKey,
    IdempotencyRecord,
    PendingAction,
    ToolCall,
    Trigger,
    TriggerDelivery,
)
from .services import api_key_create, api_key_revoke
from .triggers.services import trigger_set_active


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    """Read here; an agent is added and its settings changed on the owner's agents page, whose services validate
    them (write policy, business hours, limits). Keys are created through the service (shown once)."""

    list_display = ("name", "organization", "write_policy", "is_active", "created_at")
    list_filter = ("is_active", "write_policy")
    search_fields = ("name", "organization__name")
    actions = ["create_key"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # its runs, keys and audit rows stay attributable

    @admin.action(description="Create an API key (shown once)")
    def create_key(self, request, queryset):
        for agent in queryset:
            _key, raw = api_key_create(agent=agent, label=f"created in admin by {request.user}")
            self.message_user(request, f"New key for {agent}: {raw} (copy it now; it is not stored).",
                              messages.WARNING)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "agent", "organization", "label", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "agent__name", "organization__name")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at", "revoked_at", "organization", "agent")
    fields = ("organization", "agent", "prefix", "label", "rate_limit_per_minute", "created_at", "last_used_at",
              "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # through the agent's "Create an API key" action, which shows the key once

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(api_key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(ToolCall)
class ToolCallAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organization", "agent", "key_prefix", "surface", "tool", "contact", "ok",
                    "error_code", "outcome", "latency_ms", "request_count")
    list_filter = ("surface", "ok", "error_code", "tool")
    list_select_related = ("organization", "agent", "contact")
    # A GHL traceId pasted from a support ticket or a log line finds the call (and the push) it belongs to.
    search_fields = ("tool", "key_prefix", "agent__name", "organization__name", "ghl_request_ids", "ghl_ids")
    date_hierarchy = "created_at"

    @admin.display(description="GHL requests")
    def request_count(self, obj):
        return len(obj.ghl_request_ids or [])

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organization", "agent", "tool", "key")
    search_fields = ("key", "tool")

    def has_change_permission(self, request, obj=None):
        return False


class AgentRunStepInline(admin.TabularInline):
    model = AgentRunStep
    extra = 0
    can_delete = False
    fields = ("index", "kind", "content", "tool", "arguments", "result", "ok", "prompt_tokens", "completion_tokens",
              "latency_ms")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AgentRun)
class AgentRunAdmin(admin.ModelAdmin):
    """Runs are read here, never edited: the record of what the agent did."""

    list_display = ("created_at", "organization", "agent", "source", "status", "instruction", "model_calls",
                    "tool_calls", "duration_ms")
    list_filter = ("status", "source")
    search_fields = ("instruction", "transcript", "agent__name", "organization__name")
    date_hierarchy = "created_at"
    inlines = [AgentRunStepInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "agent", "event", "action", "is_active", "created_at")
    list_filter = ("event", "action", "is_active")
    search_fields = ("name", "organization__name", "agent__name")
    exclude = ("callback_secret",)  # shown once to the owner when the trigger is created; never displayed again
    actions = ["switch_on", "switch_off"]

    def has_add_permission(self, request):
        return False  # on the owner's agents page, which validates it and shows the callback secret once

    def get_readonly_fields(self, request, obj=None):
        # Changed on the owner's agents page (validated by trigger_create); only switched on/off here.
        return [f.name for f in self.model._meta.fields if f.name != "callback_secret"]

    @admin.action(description="Switch on")
    def switch_on(self, request, queryset):
        self._switch(request, queryset, True)

    @admin.action(description="Switch off")
    def switch_off(self, request, queryset):
        self._switch(request, queryset, False)

    def _switch(self, request, queryset, active: bool) -> None:
        triggers = list(queryset)
        for trigger in triggers:
            trigger_set_active(trigger=trigger, active=active)
        self.message_user(request, f"Switched {'on' if active else 'off'} {len(triggers)} trigger(s).",
                          messages.SUCCESS)


@admin.register(TriggerDelivery)
class TriggerDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: what each trigger did with each event; a callback can be replayed."""

    list_display = ("created_at", "organization", "trigger", "event", "contact", "status", "attempts",
                    "last_status_code", "reason")
    list_filter = ("status", "event")
    search_fields = ("trigger__name", "organization__name", "reason")
    date_hierarchy = "created_at"
    actions = ["replay"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Replay (deliver / run again now)")
    def replay(self, request, queryset):
        from .triggers.fire import trigger_delivery_replay

        outcomes = [trigger_delivery_replay(delivery=d) for d in queryset.select_related("trigger")]
        summary = ", ".join(f"#{d.pk}: {d.status}" for d in outcomes if d is not None)
        self.message_user(request, f"Replayed {len(outcomes)}: {summary}")


@admin.register(PendingAction)
class PendingActionAdmin(admin.ModelAdmin):
    """Read here; decided by the owner on the activity page (approving runs the write)."""

    list_display = ("created_at", "organization", "agent", "tool", "status", "decided_by", "decided_at")
    list_filter = ("status", "tool")
    search_fields = ("tool", "agent__name", "organization__name")
    # The input as the activity page shows it: a file waiting for approval as its digest, never its base64.
    exclude = ("arguments",)

    @admin.display(description="Arguments")
    def arguments_shown(self, obj):
        return obj.arguments_json

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "arguments"] + ["arguments_shown"]

    def has_add_permission(self, request):
        return False
