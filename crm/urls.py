from django.urls import path

from . import calendar_views

urlpatterns = [
    path("orgs/<int:org_id>/calendars/", calendar_views.calendar_appointments, name="calendar_appointments"),
]
