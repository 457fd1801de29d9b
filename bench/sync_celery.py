"""`celery -A bench.sync_celery worker`: the product's Celery app, wired for contact sync (see sync_wiring)."""
from bench.sync_wiring import celery_application

app = celery_application()
