"""`POST /webhooks/ghl/`: the one endpoint GHL delivers every webhook event to.

Authenticated by signature (no session, no CSRF). The answer is always JSON and never a 5xx: GHL treats a
5xx as final and drops the event, and retries only a 429.
"""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException, UnreadablePostError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .services import webhook_receive

logger = logging.getLogger(__name__)


class JsonOnlyNegotiation(BaseContentNegotiation):
    """Always answer JSON, whatever the Accept header says (no 406 for a webhook)."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class GhlWebhookReceiveApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()
    parser_classes = ()  # the raw bytes are what is signed: never let DRF parse them
    renderer_classes = (JSONRenderer,)
    content_negotiation_class = JsonOnlyNegotiation

    def post(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return Response({"error": "bad-content-length"}, status=400)
        if declared > settings.GHL_WEBHOOK_MAX_BODY_BYTES:
            return Response({"error": "payload-too-large"}, status=413)
        try:
            body = request._request.body
        except RequestDataTooBig:
            return Response({"error": "payload-too-large"}, status=413)
        except (UnreadablePostError, RawPostDataException, OSError):
            return Response({"error": "unreadable-body"}, status=400)
        result = webhook_receive(body=body, headers=request._request.headers)
        return Response(result.data, status=result.status_code)

    def handle_exception(self, exc):
        try:
            response = super().handle_exception(exc)
        except Exception:
            # A bug, not GHL's fault: 429 asks GHL to deliver again later instead of dropping the event.
            logger.exception("ghl.webhook.unexpected-error")
            return Response({"error": "temporarily-unavailable"}, status=429)
        if response.status_code >= 500:
            return Response({"error": "temporarily-unavailable"}, status=429)
        return response
