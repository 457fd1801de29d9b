"""`POST /webhooks/ghl/`: the one endpoint GHL delivers every webhook event to.

Authenticated by signature (no session, no CSRF). The answer is always JSON and never a 5xx: GHL treats a
5xx as final and drops the event, and retries only a 429.
"""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.http.request import RawPostDataException, UnreadablePostError
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .services import webhook_receive

logger = logging.getLogger(__name__)


# A plain Django view, not DRF: nothing of DRF applies here (no authentication, permission, throttling, parsing
# or content negotiation: the raw bytes are what is signed and the answer is always JSON), and its request and
# response wrapping was a measurable share of an acknowledgement's CPU (bench/webhook_burst.py).
@method_decorator(csrf_exempt, name="dispatch")  # GHL authenticates by signature; no session, no CSRF token
class GhlWebhookReceiveApi(View):
    http_method_names = ["post", "options"]  # anything else: 405 with a JSON body (tenancy middleware)

    def post(self, request):
        try:
            return self._receive(request)
        except Exception:
            # A bug, not GHL's fault: 429 asks GHL to deliver again later instead of dropping the event.
            logger.exception("ghl.webhook.unexpected-error")
            return JsonResponse({"error": "temporarily-unavailable"}, status=429)

    @staticmethod
    def _receive(request) -> JsonResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"error": "bad-content-length"}, status=400)
        if declared > settings.GHL_WEBHOOK_MAX_BODY_BYTES:
            return JsonResponse({"error": "payload-too-large"}, status=413)
        try:
            body = request.body
        except RequestDataTooBig:
            return JsonResponse({"error": "payload-too-large"}, status=413)
        except (UnreadablePostError, RawPostDataException, OSError):
            return JsonResponse({"error": "unreadable-body"}, status=400)
        result = webhook_receive(body=body, headers=request.headers)
        return JsonResponse(result.data, status=result.status_code)
