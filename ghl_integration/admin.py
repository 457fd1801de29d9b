from django.contrib import admin, messages

from crm.sync.locks import SyncBusy

from .client import GhlApiError
from .connections import (
    ConnectError,
    ConnectionInactive,
    agency_installed_locations,
    connection_add_agency_location,
    connection_disconnect,
    connection_refresh_tokens,
)
from .contacts.runs import sync_run_current_pull
from .contacts.services import contacts_reconcile_request, contacts_resync_request
from .models import GhlAgencyLocation, GhlAppInstallState, GhlConnection


class GhlAgencyLocationInline(admin.TabularInline):
    model = GhlAgencyLocation
    fk_name = "agency_connection"
    extra = 0
    fields = ["name", "location_id", "is_installed", "assigned_organization", "location_connection", "assignment_error"]
    readonly_fields = ["name", "location_id", "is_installed", "location_connection", "assignment_error"]
    autocomplete_fields = ["assigned_organization"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(GhlConnection)
class GhlConnectionAdmin(admin.ModelAdmin):
    list_display = [
        "organization", "location_name", "location_id", "token_level", "status", "token_expires_at",
        "last_refreshed_at", "last_synced_at", "short_error",
    ]
    list_filter = ["status", "token_level", "connected_at"]
    search_fields = ["organization__name", "organization__slug", "location_id", "location_name", "company_id"]
    list_select_related = ["organization"]
    # Tokens are never shown, not even encrypted.
    exclude = ["access_token", "refresh_token"]
    readonly_fields = [
        "organization", "location_id", "location_name", "company_id", "token_level", "scopes", "token_expires_at",
        "status", "agency_connection", "ghl_user_id", "connected_by", "connected_at", "disconnected_at",
        "last_refreshed_at", "last_synced_at", "contact_pull_progress", "last_error", "last_error_at", "created_at",
        "updated_at",
    ]
    actions = ["refresh_token_now", "disconnect", "list_agency_locations", "resync_contacts", "reconcile_contacts"]
    inlines = [GhlAgencyLocationInline]

    def has_add_permission(self, request):
        return False  # connections are made by the owner's OAuth flow

    def has_delete_permission(self, request, obj=None):
        return False  # disconnect instead: it keeps the history and the links

    @admin.display(description="Last error")
    def short_error(self, obj):
        return (obj.last_error[:60] + "…") if len(obj.last_error) > 60 else obj.last_error

    @admin.display(description="Contact pull")
    def contact_pull_progress(self, obj):
        run = sync_run_current_pull(connection=obj) if obj and obj.pk else None
        if run is None:
            return "—"
        total = run.progress_total if run.progress_total is not None else "?"
        started = f"{run.started_at:%Y-%m-%d %H:%M}"
        return f"{run.get_status_display()}: {run.progress_done} / {total} (run #{run.pk}, started {started} UTC)"

    def _for_each(self, request, queryset, action, *, done: str, failed: str, errors=(ConnectionInactive,)):
        """Run `action(connection)` per selected connection and report each outcome to the staff user."""
        for connection in queryset:
            try:
                action(connection)
            except errors as exc:
                reason = "the same sync is already running; its progress shows below" if isinstance(
                    exc, SyncBusy) else exc
                self.message_user(request, f"{connection}: {failed}: {reason}", messages.ERROR)
            else:
                self.message_user(request, f"{connection}: {done}.", messages.SUCCESS)

    @admin.action(description="Resync contacts (full pull from GHL)")
    def resync_contacts(self, request, queryset):
        self._for_each(request, queryset, lambda c: contacts_resync_request(connection=c),
                       done="contact pull queued", failed="not resynced", errors=(ConnectionInactive, SyncBusy))

    @admin.action(description="Reconcile contacts now")
    def reconcile_contacts(self, request, queryset):
        self._for_each(request, queryset, lambda c: contacts_reconcile_request(connection=c),
                       done="reconciliation queued", failed="not reconciled", errors=(ConnectionInactive, SyncBusy))

    @admin.action(description="Refresh token now")
    def refresh_token_now(self, request, queryset):
        self._for_each(request, queryset, lambda c: connection_refresh_tokens(connection_id=c.pk, force=True),
                       done="token refreshed", failed="refresh failed", errors=(GhlApiError, ConnectionInactive))

    @admin.action(description="Disconnect (stop sync, wipe tokens, keep data)")
    def disconnect(self, request, queryset):
        for connection in queryset.exclude(status=GhlConnection.Status.DISCONNECTED):
            connection_disconnect(connection=connection)
            self.message_user(request, f"{connection}: disconnected.", messages.SUCCESS)

    @admin.action(description="Agency: fetch installed locations")
    def list_agency_locations(self, request, queryset):
        for agency in queryset.filter(token_level=GhlConnection.TokenLevel.COMPANY):
            try:
                locations = agency_installed_locations(agency_connection=agency)
            except (GhlApiError, ConnectionInactive) as exc:
                self.message_user(request, f"{agency}: could not list locations: {exc}", messages.ERROR)
                continue
            for location in locations:
                GhlAgencyLocation.objects.update_or_create(
                    agency_connection=agency,
                    location_id=location.get("_id", ""),
                    defaults={"name": location.get("name", ""), "address": location.get("address", "") or "",
                              "is_installed": bool(location.get("isInstalled", True))},
                )
            count = len(locations)
            noun = "installed location" if count == 1 else "installed locations"
            self.message_user(request, f"{agency}: {count} {noun}.", messages.SUCCESS)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is not GhlAgencyLocation:
            return
        for agency_location in formset.queryset.filter(assigned_organization__isnull=False):
            _assign_agency_location(request, self, agency_location)


def _assign_agency_location(request, model_admin, agency_location: GhlAgencyLocation) -> None:
    connection = agency_location.location_connection
    if connection and connection.organization_id == agency_location.assigned_organization_id and connection.is_active:
        return
    try:
        connection = connection_add_agency_location(
            agency_connection=agency_location.agency_connection,
            organization=agency_location.assigned_organization,
            location_id=agency_location.location_id,
            user=request.user,
        )
    except ConnectError as exc:
        agency_location.assignment_error = exc.user_message
        agency_location.save(update_fields=["assignment_error", "updated_at"])
        model_admin.message_user(request, f"{agency_location}: {exc.user_message}", messages.ERROR)
        return
    agency_location.location_connection = connection
    agency_location.assignment_error = ""
    agency_location.save(update_fields=["location_connection", "assignment_error", "updated_at"])
    model_admin.message_user(
        request, f"{agency_location} now connected to {connection.organization}.", messages.SUCCESS
    )


@admin.register(GhlAppInstallState)
class GhlAppInstallStateAdmin(admin.ModelAdmin):
    list_display = ["resource_id", "installed", "changed_at", "updated_at"]
    list_filter = ["installed"]
    search_fields = ["resource_id"]
    readonly_fields = ["resource_id", "installed", "changed_at", "details", "updated_at"]


@admin.register(GhlAgencyLocation)
class GhlAgencyLocationAdmin(admin.ModelAdmin):
    list_display = ["name", "location_id", "agency_connection", "assigned_organization", "location_connection"]
    list_filter = ["is_installed", "assigned_organization"]
    search_fields = ["name", "location_id", "agency_connection__company_id"]
    autocomplete_fields = ["assigned_organization"]
    readonly_fields = ["agency_connection", "location_id", "name", "address", "is_installed", "location_connection",
                       "assignment_error"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.assigned_organization_id:
            _assign_agency_location(request, self, obj)


# The webhook inbox's admin lives next to the inbox.
from .webhooks import admin as webhooks_admin  # noqa: E402, F401
