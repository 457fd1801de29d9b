from django.apps import AppConfig


class GhlIntegrationConfig(AppConfig):
    name = "ghl_integration"
    verbose_name = "GoHighLevel integration"

    def ready(self):
        # Explicit imports, no autodiscovery magic (it finds only `ghl_integration/tasks.py`): the webhook handler
        # families (via dispatch) and every package's Celery tasks (webhooks, the push worker, each kind's).
        from channels_app.providers.registry import registry as channel_registry
        from crm.calendar_backend import register_calendar_backend
        from crm.contact_remote_lookup import register_contact_remote_finder
        from crm.currency import register_currency_finder
        from crm.sync.targets import register_target_resolver

        from . import tasks as connection_tasks  # noqa: F401
        from .calendars import tasks as calendar_tasks  # noqa: F401
        from .calendars.backend import ghl_calendar_backend_for
        from .calendars.mirror import calendars_on_connected
        from .calendars.outbound import AppointmentPusher
        from .contacts import tasks as contact_tasks  # noqa: F401
        from .contacts.outbound import ContactPusher
        from .contacts.remote_lookup import ghl_contact_remote_find
        from .contacts.services import contacts_on_connected
        from .conversations import tasks as conversation_tasks  # noqa: F401
        from .conversations.channel import GhlChannelProvider
        from .opportunities import tasks as opportunity_tasks
        from .opportunities.currency import organization_currency
        from .opportunities.outbound import OpportunityPusher
        from .provider import GHL
        from .signals import connection_connected
        from .sync import push_tasks  # noqa: F401
        from .sync.push import register_pusher
        from .sync.targets import ghl_contact_sync_targets, ghl_opportunity_sync_targets
        from .sync.wiring import connect_lifecycle, connect_outbound
        from .webhooks import dispatch, tasks  # noqa: F401

        # Which GHL locations an organisation's local changes are pushed to (crm.sync's outbox), each kind
        # by its own switch on the connection.
        register_target_resolver(GHL.key, ghl_contact_sync_targets)
        register_target_resolver(GHL.key, ghl_opportunity_sync_targets, object_type="opportunity")
        # Each kind's outbox entries go to GHL through its pusher (kinds without one stay pending).
        register_pusher(ContactPusher)
        register_pusher(AppointmentPusher)
        register_pusher(OpportunityPusher)
        # Queue the push task right after a local contact change commits (the minute sweep is the safety net).
        connect_outbound()
        # Load the field mapping and queue the initial pull when a connection becomes active, then (after it,
        # so the pull queues first) push what waited while it was away.
        connection_connected.connect(contacts_on_connected, dispatch_uid="ghl.sync.contacts-on-connected")
        connect_lifecycle()
        # Mirror the pipelines, users and opportunities when a location connects.
        connection_connected.connect(opportunity_tasks.opportunities_on_connected,
                                     dispatch_uid="ghl.opportunities.on-connected")
        # Mirror the calendars and import the appointments when a location connects.
        connection_connected.connect(calendars_on_connected, dispatch_uid="ghl.calendars.on-connected")
        # Bookings on calendars mirrored from GHL go through GHL's calendar API (crm.services.appointments).
        register_calendar_backend(GHL.key, ghl_calendar_backend_for)
        # Deals are in the currency of the GHL location they live in (crm.currency).
        register_currency_finder(GHL.key, organization_currency)
        # A contact about to be created here is first looked up in GHL (crm.contact_remote_lookup).
        register_contact_remote_finder(GHL.key, ghl_contact_remote_find)
        # GHL carries SMS, email and WhatsApp for organizations connected to it (channels_app's router).
        channel_registry.register(GhlChannelProvider())
