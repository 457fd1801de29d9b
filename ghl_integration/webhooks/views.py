"""`POST /webhooks/ghl/`: the one endpoint GHL delivers every webhook event to.

Authenticated by signature (no session, no CSRF). The answer is always JSON and never a 5xx: GHL treats a
5xx as final and drops the event, and retries only a 429.
"""

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.http.request import RawPostDataException, UnreadablePostError
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .services import webhook_headers_of, webhook_receive

logger = logging.getLogger(__name__)


def _json(data: dict, status: int) -> HttpResponse:
    # What JsonResponse answers, without its encoder class and its checks: the data here is always a plain dict.
    return HttpResponse(json.dumps(data), content_type="application/json", status=status)


# A plain Django view, not DRF: nothing of DRF applies here (no authentication, permission, throttling, parsing
# or content negotiation: the raw bytes are what is signed and the answer is always JSON), and its request and
# response wrapping was a measurable share of an acknowledgement's CPU (bench/webhook_burst.py). For the same
# reason the view reads the few headers it keeps straight from the WSGI environ (not `request.headers`, which
# copies them all) and is exempted from CSRF once, in `as_view`, not on every call (`method_decorator`).
class GhlWebhookReceiveApi(View):
    http_method_names = ["post", "options"]  # anything else: 405 with a JSON body (tenancy middleware)

    @classmethod
    def as_view(cls, **initkwargs):
        return csrf_exempt(super().as_view(**initkwargs))  # GHL authenticates by signature; no session, no CSRF

    def post(self, request):
        try:
            return self._receive(request)
        except Exception:
            # A bug, not GHL's fault: 429 asks GHL to deliver again later instead of dropping the event.
            logger.exception("ghl.webhook.unexpected-error")
            return _json({"error": "temporarily-unavailable"}, 429)

    @staticmethod
    def _receive(request) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _json({"error": "bad-content-length"}, 400)
        if declared > settings.GHL_WEBHOOK_MAX_BODY_BYTES:
            return _json({"error": "payload-too-large"}, 413)
        try:
            body = request.body
        except RequestDataTooBig:
            return _json({"error": "payload-too-large"}, 413)
        except (UnreadablePostError, RawPostDataException, OSError):
            return _json({"error": "unreadable-body"}, 400)
        result = webhook_receive(body=body, headers=webhook_headers_of(request.META))
        return _json(result.data, result.status_code)
