from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agent tools"

    def ready(self) -> None:
        from .tools import load_tools

        load_tools()
