"""Process entry points for `bench/sync_latency.py`: the product's WSGI app and Celery app, wired for contact sync.

Until `GhlIntegrationConfig.ready()` registers the GHL sync target resolver and the outbox push notifier,
the benchmark's processes register them here (only when absent). Every process of one benchmark run sends
and consumes tasks on a private queue (``BENCH_CELERY_QUEUE``), so no other worker on the same broker
takes them.
"""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")


def wire() -> None:
    from crm.sync import outbox, targets
    from ghl_integration.sync import wiring
    from ghl_integration.sync.targets import ghl_contact_sync_targets

    if "ghl" not in targets._resolvers:
        targets.register_target_resolver("ghl", ghl_contact_sync_targets)
    if "ghl" not in outbox._push_notifiers:
        wiring.connect_outbound()


def use_queue(app) -> None:
    queue = os.environ.get("BENCH_CELERY_QUEUE")
    if queue:
        # Every task of this bench on its private queue, past the per-role routes of config/settings/celery.py.
        app.conf.task_default_queue = queue
        app.conf.task_routes = ({"*": {"queue": queue}},)
        app.amqp.flush_routes()
        try:
            del app.amqp.router  # built (and cached) from the routes on first use
        except AttributeError:
            pass


def wsgi_application():
    from django.core.wsgi import get_wsgi_application

    from config.celery import app as celery_app

    application = get_wsgi_application()
    wire()
    use_queue(celery_app)
    return application


def celery_application():
    import django

    django.setup()
    from config.celery import app as celery_app

    wire()
    use_queue(celery_app)
    return celery_app
