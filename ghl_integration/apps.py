from django.apps import AppConfig


class GhlIntegrationConfig(AppConfig):
    name = "ghl_integration"
    verbose_name = "GoHighLevel integration"

    def ready(self):
        # Explicit imports, no autodiscovery magic: the webhook handler families (via dispatch) and the
        # webhook Celery tasks, which live outside `ghl_integration/tasks.py`.
        from .webhooks import dispatch, tasks  # noqa: F401
