from django.urls import path

from . import views

urlpatterns = [
    path("orgs/<int:org_id>/agents/", views.agents_page, name="agents_page"),
    path("orgs/<int:org_id>/agents/activity/", views.agents_activity, name="agents_activity"),
    path("orgs/<int:org_id>/agents/<int:agent_id>/keys/", views.agent_key_create, name="agents_key_create"),
    path("orgs/<int:org_id>/agents/keys/<int:key_id>/revoke/", views.agent_key_revoke, name="agents_key_revoke"),
]
