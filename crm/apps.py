from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"

    def ready(self):
        from .sync.contact_kind import CONTACT_KIND
        from .sync.kinds import register_kind
        from .sync.opportunity_kind import OPPORTUNITY_KIND

        # The kinds of record the sync engine serves (field mappings, policies, runs and targets are keyed by them).
        register_kind(CONTACT_KIND)
        register_kind(OPPORTUNITY_KIND)
