from django.urls import path

from . import outbound_switch_views, settings_views, sync_views
from .oauth import views as oauth_views
from .opportunities import settings_views as opportunity_settings

urlpatterns = [
    path("orgs/<int:org_id>/integrations/ghl/", oauth_views.settings_page, name="ghl_settings"),
    path("orgs/<int:org_id>/integrations/ghl/connect/", oauth_views.connect, name="ghl_connect"),
    path("orgs/<int:org_id>/integrations/ghl/disconnect/", oauth_views.disconnect, name="ghl_disconnect"),
    path(
        "orgs/<int:org_id>/integrations/ghl/choose-location/",
        oauth_views.choose_location,
        name="ghl_choose_location",
    ),
    path("orgs/<int:org_id>/integrations/ghl/sync/policy/", settings_views.sync_policy_update, name="ghl_sync_policy"),
    path(
        "orgs/<int:org_id>/integrations/ghl/sync/mapping/",
        settings_views.field_mapping_update,
        name="ghl_field_mapping",
    ),
    path(
        "orgs/<int:org_id>/integrations/ghl/sync/mapping/remove/",
        settings_views.field_mapping_remove_action,
        name="ghl_field_mapping_remove",
    ),
    path(
        "orgs/<int:org_id>/integrations/ghl/sync/custom-fields/",
        settings_views.custom_fields_refresh,
        name="ghl_custom_fields_refresh",
    ),
    path("orgs/<int:org_id>/integrations/ghl/opportunities/policy/", opportunity_settings.opportunity_policy_update,
         name="ghl_opportunity_policy"),
    path("orgs/<int:org_id>/integrations/ghl/opportunities/mapping/", opportunity_settings.opportunity_mapping_update,
         name="ghl_opportunity_mapping"),
    path("orgs/<int:org_id>/integrations/ghl/opportunities/mapping/remove/",
         opportunity_settings.opportunity_mapping_remove, name="ghl_opportunity_mapping_remove"),
    path("orgs/<int:org_id>/integrations/ghl/opportunities/custom-fields/",
         opportunity_settings.opportunity_custom_fields_refresh, name="ghl_opportunity_custom_fields_refresh"),
    path("orgs/<int:org_id>/integrations/ghl/sync/outbound/", outbound_switch_views.outbound_switches_update,
         name="ghl_outbound_switches"),
    path("integrations/ghl/oauth/callback/", oauth_views.oauth_callback, name="ghl_oauth_callback"),
    path("orgs/<int:org_id>/integrations/ghl/contacts/status/", sync_views.contact_sync_status,
         name="ghl_contact_sync_status"),
    path("orgs/<int:org_id>/integrations/ghl/contacts/status/card/", sync_views.contact_sync_status_card,
         name="ghl_contact_sync_status_card"),
    path("orgs/<int:org_id>/integrations/ghl/contacts/resync/", sync_views.contact_sync_resync,
         name="ghl_contact_sync_resync"),
]
