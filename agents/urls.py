from django.urls import path

from . import approval_views, trigger_views, views

urlpatterns = [
    path("orgs/<int:org_id>/agents/", views.agents_page, name="agents_page"),
    path("orgs/<int:org_id>/agents/activity/", approval_views.agents_activity, name="agents_activity"),
    path("orgs/<int:org_id>/agents/<int:agent_id>/keys/", views.agent_key_create, name="agents_key_create"),
    path("orgs/<int:org_id>/agents/keys/<int:key_id>/revoke/", views.agent_key_revoke, name="agents_key_revoke"),
    path("orgs/<int:org_id>/agents/triggers/", trigger_views.trigger_add, name="agents_trigger_add"),
    path("orgs/<int:org_id>/agents/triggers/<int:trigger_id>/toggle/", trigger_views.trigger_toggle,
         name="agents_trigger_toggle"),
    path("orgs/<int:org_id>/agents/<int:agent_id>/settings/", trigger_views.agent_settings, name="agents_settings"),
    path("orgs/<int:org_id>/agents/ask/", trigger_views.agent_ask, name="agents_ask"),
    path("orgs/<int:org_id>/agents/runs/<int:run_id>/", trigger_views.agent_run_page, name="agents_run"),
    path("orgs/<int:org_id>/agents/approvals/<int:action_id>/", approval_views.approval_decide,
         name="agents_approval_decide"),
]
