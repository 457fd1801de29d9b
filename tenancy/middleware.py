"""Error pages for people: Django's `require_POST` & co. answer 405 with an empty body, a blank page in a browser."""
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


class FriendlyMethodNotAllowedMiddleware:
    """Render `405.html` for an empty 405 answer to a browser; API answers (a JSON body) are left alone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 405 or response.content or "html" not in request.headers.get("Accept", "html"):
            return response
        allowed = response.get("Allow", "")
        friendly = HttpResponse(
            render_to_string("405.html", {"allowed": allowed, "path": request.path}, request=request), status=405
        )
        if allowed:
            friendly["Allow"] = allowed
        return friendly
