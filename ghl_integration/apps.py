from django.apps import AppConfig


class GhlIntegrationConfig(AppConfig):
    name = "ghl_integration"
    verbose_name = "GoHighLevel integration"

    def ready(self):
        # Explicit imports, no autodiscovery magic (it finds only `ghl_integration/tasks.py`): every kind's GHL
        # half (`sync/registry.py`: its webhook family, pusher, targets, on-connect receiver and tasks), the
        # webhook inbox's and the push worker's tasks.
        from channels_app.providers.registry import registry as channel_registry
        from crm.account import register_account_finder
        from crm.calendar_backend import register_calendar_backend
        from crm.contact_remote_lookup import register_contact_remote_finder
        from crm.currency import register_currency_finder

        from . import tasks as connection_tasks  # noqa: F401
        from .account import ghl_account_for
        from .calendars.backend import ghl_calendar_backend_for
        from .contacts.remote_lookup import ghl_contact_remote_find
        from .conversations.channel import GhlChannelProvider
        from .opportunities.currency import organization_currency
        from .provider import GHL
        from .sync import push_tasks  # noqa: F401
        from .sync.registry import ghl_kinds_register
        from .sync.wiring import connect_lifecycle, connect_outbound
        from .webhooks import dispatch, tasks  # noqa: F401

        # Each kind's GHL half, as its `<kind>/kind.py` declares it: its outbox entries go to GHL through its
        # pusher (kinds without one stay pending), to the locations its target resolver names (each kind by its
        # own switch on the connection), and its receiver reacts when a location connects (the contact pull first).
        ghl_kinds_register()
        # Queue the push task right after a local change commits (the 15-second sweep is the safety net).
        connect_outbound()
        # When a connection becomes active, after the kinds' receivers (so the contact pull queues first): push
        # what waited while it was away.
        connect_lifecycle()
        # Bookings on calendars mirrored from GHL go through GHL's calendar API (crm.services.appointments).
        register_calendar_backend(GHL.key, ghl_calendar_backend_for)
        # Deals are in the currency of the GHL location they live in (crm.currency).
        register_currency_finder(GHL.key, organization_currency)
        # What an agent is told of the account it works in: the location's name, zone, connection (crm.account).
        register_account_finder(GHL.key, ghl_account_for)
        # A contact about to be created here is first looked up in GHL (crm.contact_remote_lookup).
        register_contact_remote_finder(GHL.key, ghl_contact_remote_find)
        # GHL carries SMS, email and WhatsApp for organizations connected to it (channels_app's router).
        channel_registry.register(GhlChannelProvider())
