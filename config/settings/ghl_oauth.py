"""GoHighLevel Marketplace app (OAuth) settings.

In development (DEBUG on) every value defaults to the local GHL sandbox's app, which `make run` starts
next to the product. With DEBUG off, missing credentials or values that point at the sandbox are a
configuration error at start-up, never a silent fall-back to the fake.
"""
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_env = environ.Env()
_DEBUG = _env.bool("DEBUG", default=False)
# Tests run with DEBUG off but against the sandbox; they opt in explicitly.
GHL_ALLOW_SANDBOX = _env.bool("GHL_ALLOW_SANDBOX", default=_DEBUG)

GHL_SANDBOX_PORT = _env.int("GHL_SANDBOX_PORT", default=8100)
_SANDBOX_URL = f"http://127.0.0.1:{GHL_SANDBOX_PORT}"
_SANDBOX_CLIENT_ID = "sandboxapp-0001"  # ghl_sandbox/constants.py (product code never imports it)
_SANDBOX_CLIENT_SECRET = "sandbox-client-secret"

_GHL_PRODUCTION_API = "https://services.leadconnectorhq.com"
GHL_API_BASE_URL = _env.str("GHL_API_BASE_URL", default=_SANDBOX_URL if GHL_ALLOW_SANDBOX else _GHL_PRODUCTION_API)

GHL_CLIENT_ID = _env.str("GHL_CLIENT_ID", default=_SANDBOX_CLIENT_ID if GHL_ALLOW_SANDBOX else "")
GHL_CLIENT_SECRET = _env.str("GHL_CLIENT_SECRET", default=_SANDBOX_CLIENT_SECRET if GHL_ALLOW_SANDBOX else "")
# GHL's SDK derives the app id as the part of the client id before the first "-".
GHL_APP_ID = _env.str("GHL_APP_ID", default=GHL_CLIENT_ID.split("-", 1)[0])
GHL_AUTHORIZE_URL = _env.str(
    "GHL_AUTHORIZE_URL",
    default=f"{_SANDBOX_URL}/oauth/chooselocation"
    if GHL_ALLOW_SANDBOX
    else "https://marketplace.gohighlevel.com/v2/oauth/chooselocation",
)
# The web server's port: WEB_PORT under `make run` (the Makefile sets it from PORT), else PORT.
_WEB_PORT = _env.int("WEB_PORT", default=_env.int("PORT", default=8000))
GHL_REDIRECT_URI = _env.str(
    "GHL_REDIRECT_URI",
    default=f"http://127.0.0.1:{_WEB_PORT}/integrations/ghl/oauth/callback/"
    if GHL_ALLOW_SANDBOX
    else "",
)
# What we ask for on the consent screen, and the part of it the product cannot work without.
GHL_SCOPES = _env.list(
    "GHL_SCOPES",
    default=(
        "contacts.readonly contacts.write conversations.readonly conversations.write "
        "conversations/message.readonly conversations/message.write opportunities.readonly opportunities.write "
        "calendars.readonly calendars/events.readonly calendars/events.write locations.readonly "
        "locations/customFields.readonly users.readonly oauth.readonly oauth.write companies.readonly"
    ).split(),
)
GHL_REQUIRED_SCOPES = _env.list(
    "GHL_REQUIRED_SCOPES",
    default=(
        "contacts.readonly contacts.write conversations.readonly conversations/message.readonly "
        "conversations/message.write opportunities.readonly opportunities.write calendars.readonly "
        "calendars/events.readonly calendars/events.write locations.readonly"
    ).split(),
)
# Refresh a token when it expires within this margin. The beat task runs every 15 minutes, so the
# margin must exceed that comfortably; 24 h tokens are refreshed about 2 h before they expire.
GHL_TOKEN_REFRESH_MARGIN_S = _env.int("GHL_TOKEN_REFRESH_MARGIN_S", default=2 * 3600)
GHL_OAUTH_STATE_MAX_AGE_S = _env.int("GHL_OAUTH_STATE_MAX_AGE_S", default=600)


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in {"127.0.0.1", "localhost", "::1"} or host.startswith("127.")


if _env.bool("GHL_ENABLED", default=True) and not GHL_ALLOW_SANDBOX:
    _missing = [
        name
        for name, value in (
            ("GHL_CLIENT_ID", GHL_CLIENT_ID),
            ("GHL_CLIENT_SECRET", GHL_CLIENT_SECRET),
            ("GHL_REDIRECT_URI", GHL_REDIRECT_URI),
        )
        if not value
    ]
    if _missing:
        raise ImproperlyConfigured(
            f"{', '.join(_missing)} must be set to your GoHighLevel Marketplace app's values when DEBUG is off "
            "(or set GHL_ENABLED=0)."
        )
    _sandboxy = [
        name
        for name, value in (
            ("GHL_CLIENT_ID", GHL_CLIENT_ID if GHL_CLIENT_ID == _SANDBOX_CLIENT_ID else ""),
            ("GHL_AUTHORIZE_URL", GHL_AUTHORIZE_URL if _is_loopback(GHL_AUTHORIZE_URL) else ""),
            ("GHL_API_BASE_URL", GHL_API_BASE_URL if _is_loopback(GHL_API_BASE_URL) else ""),
        )
        if value
    ]
    if _sandboxy:
        raise ImproperlyConfigured(
            f"{', '.join(_sandboxy)} point at the local GHL sandbox while DEBUG is off. "
            "Configure the real GoHighLevel app, or set GHL_ALLOW_SANDBOX=1 for a test deployment."
        )
