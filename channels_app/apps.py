from django.apps import AppConfig


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = "Channels"

    def ready(self):
        # Explicit registration: the development `console` provider lives here; GHL's registers itself from
        # ghl_integration's ready().
        from . import tasks  # noqa: F401  (the send retry and the minute sweep)
        from .providers.console import ConsoleProvider
        from .providers.registry import registry

        registry.register(ConsoleProvider())
