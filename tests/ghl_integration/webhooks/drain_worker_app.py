"""The Celery app of the live drain test's worker: production's, with a burst window the test's HTTP client
(slower than GHL) cannot outrun, so its whole burst stays one burst."""

from config.celery import app  # noqa: F401 - `celery -A` looks for it here
from ghl_integration.webhooks import tuning

tuning.DOORBELL = tuning.DoorbellTuning(burst_window_seconds=60)
