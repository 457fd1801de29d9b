from django.urls import path

from . import calendar_views, contact_views, pipeline_views, sync_inbox_views

urlpatterns = [
    path("orgs/<int:org_id>/calendars/", calendar_views.calendar_appointments, name="calendar_appointments"),
    path("orgs/<int:org_id>/calendars/appointments/<int:appointment_id>/attendance/",
         calendar_views.appointment_mark_attendance, name="appointment_mark_attendance"),
    path("orgs/<int:org_id>/pipelines/", pipeline_views.pipeline_board_page, name="pipeline_board"),
    path("orgs/<int:org_id>/pipelines/opportunities/<int:opportunity_id>/move/",
         pipeline_views.opportunity_move_action, name="opportunity_move"),
    path("orgs/<int:org_id>/contacts/", contact_views.contact_list_page, name="contacts_list"),
    path("orgs/<int:org_id>/contacts/new/", contact_views.contact_create_page, name="contact_create"),
    path("orgs/<int:org_id>/contacts/<int:contact_id>/", contact_views.contact_detail_page, name="contact_detail"),
    path("orgs/<int:org_id>/contacts/<int:contact_id>/edit/", contact_views.contact_edit_page, name="contact_edit"),
    path("orgs/<int:org_id>/contacts/<int:contact_id>/archive/", contact_views.contact_archive_action,
         name="contact_archive"),
    path("orgs/<int:org_id>/contacts/<int:contact_id>/restore/", contact_views.contact_restore_action,
         name="contact_restore"),
    path("orgs/<int:org_id>/sync/inbox/", sync_inbox_views.sync_inbox_page, name="sync_inbox"),
    path("orgs/<int:org_id>/sync/conflicts/<int:conflict_id>/resolve/", sync_inbox_views.sync_conflict_resolve,
         name="sync_conflict_resolve"),
    path("orgs/<int:org_id>/sync/changes/<int:entry_id>/retry/", sync_inbox_views.sync_push_retry,
         name="sync_push_retry"),
]
