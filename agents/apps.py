from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agent tools"

    def ready(self) -> None:
        from .tools import load_tools

        load_tools()

        from crm.events import business_event

        from . import tasks  # noqa: F401  (the runs, the trigger deliveries and their sweeps)
        from .triggers.fire import on_business_event

        business_event.connect(on_business_event, weak=False, dispatch_uid="agents.triggers")

        from crm.sync.outbox import outbox_requests_sent

        from .audit import on_outbox_requests_sent

        # A worker's push of a tool call's write adds GHL's request ids to that call's audit row.
        outbox_requests_sent.connect(on_outbox_requests_sent, weak=False, dispatch_uid="agents.audit")
