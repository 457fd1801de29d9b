from django.urls import path

from . import sync_views
from .oauth import views as oauth_views

urlpatterns = [
    path("orgs/<int:org_id>/integrations/ghl/", oauth_views.settings_page, name="ghl_settings"),
    path("orgs/<int:org_id>/integrations/ghl/connect/", oauth_views.connect, name="ghl_connect"),
    path("orgs/<int:org_id>/integrations/ghl/disconnect/", oauth_views.disconnect, name="ghl_disconnect"),
    path(
        "orgs/<int:org_id>/integrations/ghl/choose-location/",
        oauth_views.choose_location,
        name="ghl_choose_location",
    ),
    path("integrations/ghl/oauth/callback/", oauth_views.oauth_callback, name="ghl_oauth_callback"),
    path("orgs/<int:org_id>/integrations/ghl/contacts/status/", sync_views.contact_sync_status,
         name="ghl_contact_sync_status"),
    path("orgs/<int:org_id>/integrations/ghl/contacts/resync/", sync_views.contact_sync_resync,
         name="ghl_contact_sync_resync"),
]
