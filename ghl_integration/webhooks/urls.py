from django.urls import re_path

from .views import GhlWebhookReceiveApi

app_name = "ghl_webhooks"

urlpatterns = [
    # The slash is optional: APPEND_SLASH cannot redirect a POST.
    re_path(r"^ghl/?$", GhlWebhookReceiveApi.as_view(), name="receive"),
]
