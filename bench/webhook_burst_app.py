"""The WSGI application `bench/webhook_burst.py` serves: production's, plus a bare view to compare against.

`gunicorn -c config/gunicorn.conf.py bench.webhook_burst_app:application` runs exactly `config.wsgi`'s
application with the same settings module and middleware stack, with one more URL, `POST /bench/bare/`: a plain
Django view that reads the body and answers 200. It sits right before the webhook include in the URL list, so the
resolver tries the same patterns before reaching either, and what the bench measures between them is the inbox
itself (verification, parsing, the INSERT, the doorbell, DRF), not the framework.
"""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.wsgi import application  # noqa: F401  (sets up Django with the production settings)

BARE_PATH = "/bench/bare/"


@csrf_exempt  # as the webhook view is (DRF's APIView): signature, not CSRF, authenticates a webhook
def bare(request):
    request.body  # noqa: B018  (read it, as the inbox does)
    return HttpResponse(status=200)


def _install() -> None:
    import config.urls  # its views import models: only once config.wsgi has set Django up

    patterns = config.urls.urlpatterns
    webhooks = next(i for i, p in enumerate(patterns) if str(p.pattern) == "webhooks/")
    patterns.insert(webhooks, path(BARE_PATH.strip("/") + "/", bare, name="bench-bare"))


_install()  # before the first request: the resolver reads the list once
