from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import ValidationError

from .models import (
    Appointment,
    Calendar,
    Contact,
    Conversation,
    CrmUser,
    ExternalIdentity,
    LostReason,
    Message,
    Opportunity,
    Pipeline,
    PipelineStage,
)
from .services.appointment_changes import DETAIL_FIELDS as APPOINTMENT_DETAIL_FIELDS
from .services.appointment_changes import appointment_change_details, appointment_clean_details
from .services.contacts import (
    CONTACT_FIELDS,
    contact_archive,
    contact_clean_local_edit,
    contact_create,
    contact_unarchive,
    contact_update,
)
from .services.opportunities import opportunity_change, opportunity_open, opportunity_plan_change


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
    """Admin for rows that are archived, never deleted. No generic archive actions: a bulk `update()` would
    bypass the services (validation, the outbox, the events), so a model offers archiving only through its own
    service (contacts)."""

    actions = []

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class MirrorAdmin(ArchivableAdmin):
    """Read-only: rows mirrored from the CRM, which the sync keeps equal to GHL's. GHL's API offers no write for
    them (pipelines, stages, users, lost reasons, calendars) or they are written through their own commands
    (messages are sent, conversations follow them), so an edit or archive here would only diverge from GHL until
    the next sync overwrote it. Edit them in GoHighLevel."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ContactAdminForm(forms.ModelForm):
    """Staff edits are validated by the contact services' rules (phones, emails, country, tags), with the
    errors on the fields, before anything is saved."""

    class Meta:
        model = Contact
        fields = ["organization", *sorted(CONTACT_FIELDS), "is_archived"]

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        if organization is None:
            return cleaned
        data = {name: cleaned[name] for name in CONTACT_FIELDS if name in cleaned}
        try:
            normalised = contact_clean_local_edit(organization=organization, data=data,
                                                  contact=self.instance if self.instance.pk else None)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                if name.startswith("custom_properties."):  # one key of the JSON: say which
                    name, errors = "custom_properties", [f"{name.split('.', 1)[1]}: {e}" for e in errors]
                self.add_error(name if name in self.fields else None, errors)
            return cleaned
        cleaned.update(normalised)
        return cleaned


@admin.register(Contact)
class ContactAdmin(ArchivableAdmin):
    """Every save and bulk action goes through the contact services, so it is validated once and queued for
    the connected accounts (the outbox) at once, not left for the reconciliation to notice."""

    form = ContactAdminForm
    actions = ["archive_selected", "unarchive_selected"]
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

    def get_readonly_fields(self, request, obj=None):
        # A contact never moves between organizations: its links and history belong to the first one.
        return [*self.readonly_fields, "organization"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in CONTACT_FIELDS if name in form.cleaned_data}
        if change:
            contact = Contact.objects.get(pk=obj.pk)
            contact, _ = contact_update(contact=contact, **{n: values[n] for n in form.changed_data if n in values})
            if "is_archived" in form.changed_data:
                contact = (contact_archive if form.cleaned_data["is_archived"] else contact_unarchive)(contact=contact)
        else:
            contact = contact_create(organization=form.cleaned_data["organization"], **values)
            if form.cleaned_data.get("is_archived"):
                contact = contact_archive(contact=contact)
        obj.pk = contact.pk
        obj.refresh_from_db()

    @admin.action(description="Archive selected")
    def archive_selected(self, request, queryset):
        contacts = list(queryset.filter(is_archived=False))
        for contact in contacts:
            contact_archive(contact=contact)
        self.message_user(request, f"Archived {_contacts(len(contacts))}.", messages.SUCCESS)

    @admin.action(description="Restore selected from archive")
    def unarchive_selected(self, request, queryset):
        contacts = list(queryset.filter(is_archived=True))
        for contact in contacts:
            contact_unarchive(contact=contact)
        self.message_user(request, f"Restored {_contacts(len(contacts))}.", messages.SUCCESS)


def _contacts(count: int) -> str:
    return f"{count} contact" if count == 1 else f"{count} contacts"


class PipelineStageInline(admin.TabularInline):
    model = PipelineStage
    extra = 0
    fields = ["position", "name", "is_archived"]
    readonly_fields = fields
    ordering = ["position"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Pipeline)
class PipelineAdmin(MirrorAdmin):
    list_display = ["name", "organization", "stage_count", "is_archived", "updated_at"]
    list_filter = ["organization", "is_archived"]
    search_fields = ["name"]
    inlines = [PipelineStageInline, ExternalIdentityInline]

    @admin.display(description="Stages")
    def stage_count(self, obj):
        return obj.stages.count()


@admin.register(PipelineStage)
class PipelineStageAdmin(MirrorAdmin):
    list_display = ["name", "pipeline", "position", "is_archived", "organization"]
    list_filter = ["organization", "pipeline"]
    search_fields = ["name", "pipeline__name"]
    list_select_related = ["pipeline", "organization"]


class OpportunityAdminForm(forms.ModelForm):
    """Staff edits are validated by the opportunity services' rules (stage of this organization, a lost reason only
    for a lost deal, money), with the errors on the fields, before anything is saved."""

    CHANGEABLE = ("name", "stage", "status", "monetary_value", "lost_reason", "assignee")

    class Meta:
        model = Opportunity
        fields = ["organization", "name", "contact", "pipeline", "stage", "status", "monetary_value", "currency",
                  "assignee", "lost_reason"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self._check_not_cleared(cleaned)
            if self.instance.pk:
                opportunity_plan_change(opportunity=Opportunity.objects.get(pk=self.instance.pk),
                                        **self.changes(cleaned))
            else:
                self._check_new(cleaned)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, errors)
        return cleaned

    CLEARED_MESSAGES = {
        "assignee": "Removing a deal's assignee is not synced to GoHighLevel; pick another user, or unassign it "
                    "in GoHighLevel (the change comes back here).",
        "lost_reason": "A lost deal keeps a lost reason; pick another, or change its status (the reason is then "
                       "dropped).",
    }

    def _check_not_cleared(self, cleaned) -> None:
        """A field emptied here would otherwise be skipped without a word (the services set values, they do not
        clear them), so the staff member would think it saved."""
        if not self.instance.pk:
            return
        errors = {name: message for name, message in self.CLEARED_MESSAGES.items()
                  if name in self.changed_data and cleaned.get(name) is None
                  and getattr(self.instance, f"{name}_id") is not None
                  and not (name == "lost_reason" and cleaned.get("status") not in (None, Opportunity.Status.LOST))}
        if errors:
            raise ValidationError(errors)

    def changes(self, cleaned) -> dict:
        return {name: cleaned[name] for name in self.CHANGEABLE if name in self.changed_data and name in cleaned
                and cleaned[name] is not None}

    @staticmethod
    def _check_new(cleaned) -> None:
        org = cleaned.get("organization")
        errors = {}
        for name in ("contact", "pipeline", "stage", "assignee", "lost_reason"):
            row = cleaned.get(name)
            if row is not None and org is not None and row.organization_id != org.pk:
                errors[name] = f"That {name.replace('_', ' ')} is not one of {org}'s."
        if cleaned.get("contact") is None:
            errors["contact"] = "An opportunity in the CRM needs a contact."
        stage, pipeline = cleaned.get("stage"), cleaned.get("pipeline")
        if stage is not None and pipeline is not None and stage.pipeline_id != pipeline.pk:
            errors["stage"] = f"“{stage.name}” is a stage of another pipeline than {pipeline.name}."
        if cleaned.get("status") not in (None, Opportunity.Status.OPEN):
            errors["status"] = "A new opportunity starts open; change its status after it is created."
        if errors:
            raise ValidationError(errors)


@admin.register(Opportunity)
class OpportunityAdmin(ArchivableAdmin):
    """Every save goes through the opportunity services, so it is validated once and queued for GHL (the outbox)
    at once. No archive actions: a deal is archived here when it is deleted in GHL, and a local archive would leave
    GHL's deal open."""

    form = OpportunityAdminForm
    actions = []
    list_display = ["name", "contact", "pipeline", "stage", "status", "monetary_value", "currency", "updated_at"]
    list_filter = ["organization", "status", "pipeline", "currency", "is_archived"]
    search_fields = ["name", "contact__full_name", "contact__email"]
    autocomplete_fields = ["contact"]
    list_select_related = ["contact", "pipeline", "stage"]
    # The currency is the GHL location's (`crm.currency`), never typed in.
    readonly_fields = ["currency", "is_archived", "created_at", "updated_at", "status_changed_at", "stage_changed_at",
                       "archived_at"]
    inlines = [ExternalIdentityInline]

    def get_readonly_fields(self, request, obj=None):
        # A deal never moves between organizations or contacts here; its pipeline follows its stage.
        if obj is not None:
            return [*self.readonly_fields, "organization", "contact", "pipeline"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        cleaned = form.cleaned_data
        if change:
            opportunity = Opportunity.objects.get(pk=obj.pk)
            opportunity_change(opportunity=opportunity, **form.changes(cleaned))
        else:
            opportunity = opportunity_open(
                organization=cleaned["organization"], name=cleaned["name"], contact=cleaned["contact"],
                pipeline=cleaned["pipeline"], stage=cleaned.get("stage"),
                monetary_value=cleaned.get("monetary_value") or 0, assignee=cleaned.get("assignee"))
        obj.pk = opportunity.pk
        obj.refresh_from_db()


@admin.register(CrmUser)
class CrmUserAdmin(MirrorAdmin):
    """Mirrored from the CRM (GHL's users of the location): edit them there."""

    list_display = ["name", "email", "organization", "is_archived"]
    list_filter = ["organization", "is_archived"]
    search_fields = ["name", "email"]
    inlines = [ExternalIdentityInline]


@admin.register(LostReason)
class LostReasonAdmin(MirrorAdmin):
    """Mirrored from the CRM (GHL's lost reasons): edit them there."""

    list_display = ["name", "organization", "is_archived"]
    list_filter = ["organization", "is_archived"]
    search_fields = ["name"]
    inlines = [ExternalIdentityInline]


@admin.register(Calendar)
class CalendarAdmin(MirrorAdmin):
    list_display = ["name", "organization", "timezone", "slot_duration_minutes", "is_active"]
    list_filter = ["organization", "is_active", "is_archived"]
    search_fields = ["name"]
    inlines = [ExternalIdentityInline]


class AppointmentAdminForm(forms.ModelForm):
    """A staff edit of an existing appointment changes its details only (title, notes, status), validated by the
    service's rules; times and cancelling go through the booking commands, which ask the calendar system first."""

    class Meta:
        model = Appointment
        fields = ["organization", "calendar", "contact", "title", "starts_at", "ends_at", "status", "notes",
                  "location", "is_archived"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            current = Appointment.objects.get(pk=self.instance.pk)
            try:
                appointment_clean_details(appointment=current, **{
                    name: cleaned[name] for name in APPOINTMENT_DETAIL_FIELDS if name in self.changed_data})
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(Appointment)
class AppointmentAdmin(ArchivableAdmin):
    """Details (title, notes, status) are edited through the appointment service and queued for GHL. No adding
    and no archiving here: a booking, a new time or a cancellation asks the calendar first (the owner's calendar
    page, or an agent's booking tools)."""

    form = AppointmentAdminForm
    list_display = ["title", "contact", "calendar", "starts_at", "ends_at", "status"]
    list_filter = ["organization", "status", "calendar", "starts_at"]
    search_fields = ["title", "contact__full_name", "contact__email", "notes"]
    autocomplete_fields = ["contact"]
    date_hierarchy = "starts_at"
    list_select_related = ["contact", "calendar"]
    inlines = [ExternalIdentityInline]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return super().get_readonly_fields(request, obj)
        return ["organization", "calendar", "contact", "starts_at", "ends_at", "location", "is_archived"]

    def has_add_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        appointment_change_details(
            appointment=Appointment.objects.get(pk=obj.pk),
            **{name: form.cleaned_data[name] for name in APPOINTMENT_DETAIL_FIELDS if name in form.changed_data})
        obj.refresh_from_db()


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["created_at", "channel", "direction", "status", "subject", "body"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-created_at"]


@admin.register(Conversation)
class ConversationAdmin(MirrorAdmin):
    list_display = ["contact", "organization", "last_message_at", "unread_count"]
    list_filter = ["organization", "is_archived"]
    search_fields = ["contact__full_name", "contact__email", "contact__phone"]
    autocomplete_fields = ["contact"]
    list_select_related = ["contact", "organization"]
    inlines = [MessageInline, ExternalIdentityInline]


@admin.register(Message)
class MessageAdmin(MirrorAdmin):
    list_display = ["created_at", "conversation", "channel", "direction", "status", "short_body"]
    list_filter = ["organization", "channel", "direction", "status", "created_at"]
    search_fields = ["body", "subject", "provider_message_id", "conversation__contact__full_name"]
    list_select_related = ["conversation__contact"]
    date_hierarchy = "created_at"

    @admin.display(description="Body")
    def short_body(self, obj):
        return (obj.body[:77] + "…") if len(obj.body) > 80 else obj.body


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    """Read-only: a link and its watermark are the sync's own bookkeeping; an id or a watermark edited by hand (or
    a link deleted) would make the next event or push act on the wrong record or drop GHL's change as stale."""

    list_display = ["provider", "account_id", "content_type", "object_id", "external_id", "remote_updated_at",
                    "last_synced_at"]
    list_filter = ["provider", "content_type", "organization"]
    search_fields = ["external_id", "account_id", "=object_id"]
    list_select_related = ["content_type"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


from .sync import admin as sync_admin  # noqa: E402, F401  (registers the sync models)
