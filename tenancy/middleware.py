"""Error pages for people: Django's `require_POST` & co. answer 405 with an empty body, a blank page in a browser."""
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from .error_pages import error_json, is_machine_request


class FriendlyMethodNotAllowedMiddleware:
    """Give an empty 405 answer a body: ``405.html`` for a person, the JSON error for a program (API and
    webhook paths, or a JSON-only Accept). Answers that already have a body are left alone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 405 or response.content:
            return response
        allowed = response.get("Allow", "")
        if is_machine_request(request):
            friendly = error_json(405, allowed=allowed)
        else:
            friendly = HttpResponse(
                render_to_string("405.html", {"allowed": allowed, "path": request.path}, request=request), status=405
            )
        if allowed:
            friendly["Allow"] = allowed
        return friendly
