from django.urls import path

from . import views

urlpatterns = [
    path("orgs/<int:org_id>/conversations/", views.conversations_page, name="conversations_list"),
    path("orgs/<int:org_id>/conversations/<int:conversation_id>/", views.conversation_page,
         name="conversation_detail"),
    path("orgs/<int:org_id>/conversations/<int:conversation_id>/read/", views.conversation_mark_read_action,
         name="conversation_mark_read"),
]
