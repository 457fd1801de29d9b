"""Run a sandbox: a threaded Werkzeug WSGI server on loopback around one `Sandbox`."""
import logging
import signal
import sys

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wsgi import LimitedStream

from .app import Sandbox
from .seed import seed_demo

logger = logging.getLogger(__name__)
DEFAULT_STATE_PATH = "var/ghl_sandbox.sqlite3"
READY_LINE = "GHL sandbox listening on "
# Responses that never carry a body (RFC 9110 §6.4.1), so they get no Content-Length from us either.
BODYLESS_STATUSES = frozenset({204, 304})


class QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, as GHL serves it. Access lines go to the request log (control API), not stderr.

    Werkzeug's own `run_wsgi` closes every connection, because it cannot tell where one request body ends and
    the next request starts. Here every request body is read to its Content-Length before the next request
    line, and every response is buffered and sent with its Content-Length, so the connection can stay open.
    Connections end when the client closes them (or asks to); the server threads are daemons, so stopping the
    sandbox does not wait for idle connections.
    """

    protocol_version = "HTTP/1.1"
    # Error pages from http.server itself still leave in several writes; with Nagle on, one can wait for an ACK.
    disable_nagle_algorithm = True

    def log_request(self, *args, **kwargs):
        pass

    def run_wsgi(self) -> None:
        # http.server has already answered `Expect: 100-continue` in parse_request.
        self.environ = environ = self.make_environ()
        body = self._limit_body(environ)
        try:
            status, headers, payload = self._call_app(environ)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        except Exception:
            logger.exception("ghl.sandbox.wsgi-crashed")
            self.close_connection = True
            status, headers, payload = self._call_app(environ, InternalServerError())
        self._drain(body)
        self._send(status, headers, payload)

    def _limit_body(self, environ) -> LimitedStream | None:
        """Wrap the body so what the app leaves unread can be skipped; None when it cannot be framed."""
        if environ.get("wsgi.input_terminated"):  # chunked: Werkzeug's dechunker; do not reuse the connection
            self.close_connection = True
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return None
        environ["wsgi.input"] = body = LimitedStream(self.rfile, length)
        return body

    def _drain(self, body: LimitedStream | None) -> None:
        # The next request line starts right after this body; a client that hung up mid-body ends the connection.
        if body is None:
            return
        try:
            body.exhaust()
        except Exception:
            self.close_connection = True

    def _call_app(self, environ, app=None) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the WSGI app and collect the whole response: the sandbox's bodies are small JSON or HTML."""
        started: list = []
        chunks: list[bytes] = []

        def start_response(status, headers, exc_info=None):
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return chunks.append

        app_iter = (app or self.server.app)(environ, start_response)
        try:
            chunks.extend(app_iter)
        finally:
            if hasattr(app_iter, "close"):
                app_iter.close()
        return started[0], started[1], b"".join(chunks)

    def _send(self, status: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        no_body = self.command == "HEAD" or code < 200 or code in BODYLESS_STATUSES
        self.send_response(code, reason)
        for key, value in headers:
            # Our own count of the bytes below is the framing; a HEAD answer keeps the app's (nothing follows).
            if key.lower() != "content-length" or self.command == "HEAD":
                self.send_header(key, value)
        if not no_body:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self._end_headers_with(b"" if no_body else payload)

    def _end_headers_with(self, payload: bytes) -> None:
        """`end_headers` with the body in the same write: one syscall and one segment for the client, not two."""
        if self.request_version == "HTTP/0.9":  # http.server buffers no headers for it
            self.wfile.write(payload)
            return
        self._headers_buffer.extend((b"\r\n", payload))
        self.flush_headers()


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
