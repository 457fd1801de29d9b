from django.apps import AppConfig


class GhlIntegrationConfig(AppConfig):
    name = "ghl_integration"
    verbose_name = "GoHighLevel integration"
