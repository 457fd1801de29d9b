"""Error answers a reader can act on: a friendly page for a person, JSON for a program (API and webhook paths).

Wired as Django's ``handler400/403/404/500`` in ``config/urls.py`` and used by the 405 middleware."""
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string

# Paths answered to programs: agents call /api/, GHL posts to /webhooks/.
MACHINE_PATH_PREFIXES = ("/api/", "/webhooks/")

MESSAGES = {
    400: ("bad_request", "The request could not be read."),
    403: ("forbidden", "You have no access to this."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not answer to that method."),
    500: ("server_error", "Something went wrong on our side; it has been logged. Try again in a moment."),
}


def is_machine_request(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return request.path.startswith(MACHINE_PATH_PREFIXES) or (
        "application/json" in accept and "html" not in accept
    )


def error_json(status: int, *, message: str = "", allowed: str = "") -> JsonResponse:
    code, default_message = MESSAGES[status]
    body = {"ok": False, "error": {"code": code, "message": message or default_message}}
    if allowed:
        body["error"]["allowed"] = [method.strip() for method in allowed.split(",")]
    return JsonResponse(body, status=status)


def _answer(request, status: int, *, exception=None) -> HttpResponse:
    # Only our own messages are shown (PermissionDenied("…") raised by our views); Http404's text may hold
    # internals (a model name, a lookup), so a 404 always says the same.
    message = str(exception) if status == 403 and exception is not None and str(exception) else ""
    if is_machine_request(request):
        return error_json(status, message=message)
    return render(request, f"{status}.html", {"reason": message}, status=status)


def bad_request(request, exception=None):
    return _answer(request, 400, exception=exception)


def permission_denied(request, exception=None):
    return _answer(request, 403, exception=exception)


def page_not_found(request, exception=None):
    return _answer(request, 404, exception=exception)


def server_error(request):
    if is_machine_request(request):
        return error_json(500)
    # No context processors here: the error may come from them (or from the database).
    return HttpResponse(render_to_string("500.html"), status=500)
