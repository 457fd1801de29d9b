from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline

from .models import (
    Appointment,
    Calendar,
    Contact,
    Conversation,
    ExternalIdentity,
    Message,
    Opportunity,
    Pipeline,
    PipelineStage,
)
from .services.contacts import contact_archive, contact_unarchive


class ExternalIdentityInline(GenericTabularInline):
    model = ExternalIdentity
    ct_field = "content_type"
    ct_fk_field = "object_id"
    extra = 0
    fields = ["provider", "account_id", "external_id", "remote_updated_at", "last_synced_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ArchivableAdmin(admin.ModelAdmin):
    """Admin for rows that are archived, never deleted."""

    actions = ["archive_selected", "unarchive_selected"]

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Archive selected")
    def archive_selected(self, request, queryset):
        count = queryset.filter(is_archived=False).update(is_archived=True)
        self.message_user(request, f"Archived {count}.", messages.SUCCESS)

    @admin.action(description="Restore selected from archive")
    def unarchive_selected(self, request, queryset):
        count = queryset.filter(is_archived=True).update(is_archived=False, archived_at=None)
        self.message_user(request, f"Restored {count}.", messages.SUCCESS)


@admin.register(Contact)
class ContactAdmin(ArchivableAdmin):
    list_display = ["full_name", "email", "phone", "company_name", "organization", "is_archived", "updated_at"]
    list_filter = ["organization", "is_archived", "dnd_all", "country", "source", "created_at"]
    search_fields = ["full_name", "first_name", "last_name", "email", "phone", "company_name"]
    readonly_fields = ["created_at", "updated_at", "archived_at"]
    list_select_related = ["organization"]
    inlines = [ExternalIdentityInline]
    fieldsets = [
        (None, {"fields": ["organization", "first_name", "last_name", "full_name", "email", "phone", "company_name"]}),
        ("More contact points", {"fields": ["additional_emails", "additional_phones", "website"]}),
        ("Address", {"fields": ["address1", "city", "state", "postal_code", "country", "timezone"]}),
        ("Do not disturb", {"fields": ["dnd_all", "dnd_sms", "dnd_email", "dnd_whatsapp", "dnd_call"]}),
        ("Other", {"fields": ["date_of_birth", "tags", "source", "custom_properties"]}),
        ("Lifecycle", {"fields": ["is_archived", "archived_at", "created_at", "updated_at"]}),
    ]

    @admin.action(description="Archive selected")
    def archive_selected(self, request, queryset):
        for contact in queryset.filter(is_archived=False):
            contact_archive(contact=contact)
        self.message_user(request, "Archived.", messages.SUCCESS)

    @admin.action(description="Restore selected from archive")
    def unarchive_selected(self, request, queryset):
        for contact in queryset.filter(is_archived=True):
            contact_unarchive(contact=contact)
        self.message_user(request, "Restored.", messages.SUCCESS)


class PipelineStageInline(admin.TabularInline):
    model = PipelineStage
    extra = 0
    fields = ["position", "name"]
    ordering = ["position"]


@admin.register(Pipeline)
class PipelineAdmin(ArchivableAdmin):
    list_display = ["name", "organization", "stage_count", "is_archived", "updated_at"]
    list_filter = ["organization", "is_archived"]
    search_fields = ["name"]
    inlines = [PipelineStageInline, ExternalIdentityInline]

    @admin.display(description="Stages")
    def stage_count(self, obj):
        return obj.stages.count()

    def save_formset(self, request, form, formset, change):
        for instance in formset.save(commit=False):
            instance.organization_id = form.instance.organization_id
            instance.save()
        formset.save_m2m()


@admin.register(PipelineStage)
class PipelineStageAdmin(admin.ModelAdmin):
    list_display = ["name", "pipeline", "position", "organization"]
    list_filter = ["organization", "pipeline"]
    search_fields = ["name", "pipeline__name"]
    list_select_related = ["pipeline", "organization"]


@admin.register(Opportunity)
class OpportunityAdmin(ArchivableAdmin):
    list_display = ["name", "contact", "pipeline", "stage", "status", "monetary_value", "currency", "updated_at"]
    list_filter = ["organization", "status", "pipeline", "currency", "is_archived"]
    search_fields = ["name", "contact__full_name", "contact__email"]
    autocomplete_fields = ["contact"]
    list_select_related = ["contact", "pipeline", "stage"]
    readonly_fields = ["created_at", "updated_at", "status_changed_at", "stage_changed_at", "archived_at"]
    inlines = [ExternalIdentityInline]


@admin.register(Calendar)
class CalendarAdmin(ArchivableAdmin):
    list_display = ["name", "organization", "timezone", "slot_duration_minutes", "is_active"]
    list_filter = ["organization", "is_active", "is_archived"]
    search_fields = ["name"]
    inlines = [ExternalIdentityInline]


@admin.register(Appointment)
class AppointmentAdmin(ArchivableAdmin):
    list_display = ["title", "contact", "calendar", "starts_at", "ends_at", "status"]
    list_filter = ["organization", "status", "calendar", "starts_at"]
    search_fields = ["title", "contact__full_name", "contact__email", "notes"]
    autocomplete_fields = ["contact"]
    date_hierarchy = "starts_at"
    list_select_related = ["contact", "calendar"]
    inlines = [ExternalIdentityInline]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["created_at", "channel", "direction", "status", "subject", "body"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-created_at"]


@admin.register(Conversation)
class ConversationAdmin(ArchivableAdmin):
    list_display = ["contact", "organization", "last_message_at", "unread_count"]
    list_filter = ["organization", "is_archived"]
    search_fields = ["contact__full_name", "contact__email", "contact__phone"]
    autocomplete_fields = ["contact"]
    list_select_related = ["contact", "organization"]
    inlines = [MessageInline, ExternalIdentityInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "conversation", "channel", "direction", "status", "short_body"]
    list_filter = ["organization", "channel", "direction", "status", "created_at"]
    search_fields = ["body", "subject", "provider_message_id", "conversation__contact__full_name"]
    list_select_related = ["conversation__contact"]
    date_hierarchy = "created_at"

    @admin.display(description="Body")
    def short_body(self, obj):
        return (obj.body[:77] + "…") if len(obj.body) > 80 else obj.body

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    list_display = ["provider", "account_id", "content_type", "object_id", "external_id", "remote_updated_at",
                    "last_synced_at"]
    list_filter = ["provider", "content_type", "organization"]
    search_fields = ["external_id", "account_id", "=object_id"]
    readonly_fields = ["created_at", "updated_at", "content_hash", "synced_snapshot", "last_synced_at"]
    list_select_related = ["content_type"]


from .sync import admin as sync_admin  # noqa: E402, F401  (registers the sync models)
