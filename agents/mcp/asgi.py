"""ASGI entry point: MCP at /mcp/, everything else to Django (so one process can serve both).

    uvicorn agents.mcp.asgi:application --host 127.0.0.1 --port 8001

`make run` starts it as the Procfile's `mcp` process; in production run it as its own process (or as the
whole web tier) and route `/mcp/` to it.
"""
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402

from .server import build_app  # noqa: E402

django_application = get_asgi_application()
mcp_application = build_app()


async def application(scope, receive, send):
    path = scope.get("path", "")
    if scope["type"] == "lifespan" or path == "/mcp" or path.startswith("/mcp/"):
        await mcp_application(scope, receive, send)
    else:
        await django_application(scope, receive, send)
