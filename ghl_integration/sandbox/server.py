"""Run a sandbox: a threaded Werkzeug WSGI server on loopback around one `Sandbox`."""
import logging
import signal
import sys

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import Sandbox
from .seed import seed_demo

DEFAULT_STATE_PATH = "var/ghl_sandbox.sqlite3"
READY_LINE = "GHL sandbox listening on "


class QuietHandler(WSGIRequestHandler):
    """Access lines go to the request log (control API), not to stderr."""

    # Headers and body leave in separate writes; with Nagle on, the second can wait for a delayed ACK.
    disable_nagle_algorithm = True

    def log_request(self, *args, **kwargs):
        pass


def serve(*, host: str = "127.0.0.1", port: int = 0, state: str = DEFAULT_STATE_PATH, seed: str | None = None,
          webhook_urls: list[str] | None = None, token_ttl: int | None = None, keys_dir: str | None = None,
          out=sys.stdout) -> None:
    """Serve until SIGTERM/SIGINT. Prints `READY_LINE + base_url` once the socket is listening."""
    launch: dict = {}
    if webhook_urls:
        launch["webhooks"] = {"urls": list(webhook_urls)}
    if token_ttl is not None:
        launch["token_ttl"] = int(token_ttl)
    sandbox = Sandbox(state, keys_dir=keys_dir, launch_config=launch)
    if seed == "demo":
        seed_demo(sandbox)
    server = make_server(host, port, sandbox, threaded=True, request_handler=QuietHandler)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"{READY_LINE}http://{host}:{server.server_port}", file=out, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sandbox.close()
