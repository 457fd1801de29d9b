"""`celery -A bench.agent_runner_celery worker`: the product's Celery app (see sync_wiring) on the bench's queue."""
from bench.sync_wiring import celery_application

app = celery_application()
