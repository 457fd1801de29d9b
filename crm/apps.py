from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"

    def ready(self):
        from .sync.kinds import register_kind
        from .sync.kinds.contact import CONTACT_KIND
        from .sync.kinds.opportunity import OPPORTUNITY_KIND

        # The kinds of record the sync engine serves (field mappings, policies, runs and targets are keyed by them).
        register_kind(CONTACT_KIND)
        register_kind(OPPORTUNITY_KIND)

        from . import tasks  # noqa: F401  (the sync history's daily prune)
