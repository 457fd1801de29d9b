"""Drain this host's webhook spool into the inbox (for web hosts whose spool directory workers cannot see)."""

from django.core.management.base import BaseCommand

from ghl_integration.webhooks.maintenance import webhook_spool_drain


class Command(BaseCommand):
    help = "Store spooled webhook events in the inbox (GHL_WEBHOOK_SPOOL_DIR)."

    def handle(self, *args, **options):
        self.stdout.write(f"drained {webhook_spool_drain()} spooled event(s)")
