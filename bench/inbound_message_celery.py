"""`celery -A bench.inbound_message_celery worker`: the product's Celery app (see sync_wiring) plus a
"message received" subscriber that reports each event to Redis (``BENCH_EVENTS_KEY``) with its wall time, as
an agents' trigger would see it."""
import json
import os
import time

from bench.sync_wiring import celery_application

app = celery_application()


def _report(sender, event, organization_id, contact_id, data, **kwargs):
    import redis

    if event != "message.received":
        return
    client = redis.Redis.from_url(os.environ["BENCH_EVENTS_REDIS"])
    client.rpush(os.environ["BENCH_EVENTS_KEY"], json.dumps({"t": time.time(), "body": data.get("body"),
                                                             "message_id": data.get("message_id")}))


from crm.events import business_event  # noqa: E402  (after Django is set up by celery_application)

business_event.connect(_report, weak=False, dispatch_uid="bench-inbound-message")
