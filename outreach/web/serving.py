"""Running the app: waitress in production, Werkzeug's reloading server in development, and
one access log for both that never prints a token.

The only module that imports waitress. Links in mail carry their credential in the path
(`/granska/<token>`, `/confirm/<token>`, `/bekrafta/<token>`, `/u/<token>`) or, for links of
other tools, in the query; a log line keeps where the request went and drops the secret.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("outreach.web.access")

# Path prefixes whose next segment is a signed token (review, confirm old and Swedish, unsubscribe).
TOKEN_PATHS = re.compile(r"^(/(?:granska|confirm|bekrafta|u)/)[^/]+")
# Query parameters named like a credential, and any value that looks like a signed token.
SECRET_NAME = re.compile(r"token|key|sig|secret|password|auth|code", re.IGNORECASE)
TOKEN_LIKE = re.compile(r"[A-Za-z0-9_.~%-]{24,}")
REDACTED = "[dold]"
# Control characters in a logged path would reach the operator's terminal.
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def redact(path: str, query: str = "") -> str:
    """`path?query` with every token replaced by [dold]."""
    shown = TOKEN_PATHS.sub(lambda m: m.group(1) + REDACTED, path)
    if query:
        pairs = []
        for pair in query.split("&"):
            name, equals, value = pair.partition("=")
            if equals and (SECRET_NAME.search(name) or TOKEN_LIKE.fullmatch(value)):
                value = REDACTED
            pairs.append(name + equals + value)
        shown += "?" + "&".join(pairs)
    return UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", shown)


class AccessLog:
    """WSGI middleware: one line per request (client, method, redacted path, status, size, time
    to the response headers). It never wraps the body, so waitress still sends files itself."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()

        def logging_start_response(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            size = next((v for k, v in headers if k.lower() == "content-length"), "-")
            path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            log.info(
                '%s "%s %s %s" %s %s %.1fms',
                environ.get("REMOTE_ADDR", "-"),
                environ.get("REQUEST_METHOD", "-"),
                redact(path, environ.get("QUERY_STRING", "")),
                environ.get("SERVER_PROTOCOL", "-"),
                status.split(" ", 1)[0],
                size,
                (time.perf_counter() - started) * 1000,
            )
            return start_response(status, headers, *rest)

        return self.app(environ, logging_start_response)


def log_to_stderr() -> None:
    """Our loggers (the access log, error pages' exceptions) and waitress's, to stderr with the
    time; the libraries' chatter (Alembic at INFO) stays out."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    for name in ("outreach", "waitress"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        logger.propagate = False  # waitress.serve() adds a root handler: no second copy


def serve_production(
    app: WSGIApp, host: str, port: int, threads: int, trusted_proxy: str = ""
) -> None:
    """Serve with waitress (blocks until interrupted).

    Requests from `trusted_proxy` (the TLS proxy's address) may say who the client is
    (X-Forwarded-For) and that it came over https (X-Forwarded-Proto); from anyone else those
    headers are dropped, so a client cannot pose as another address.
    """
    import waitress

    proxy: dict[str, Any] = {}
    if trusted_proxy:
        proxy = {
            "trusted_proxy": trusted_proxy,
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
        }
    waitress.serve(
        AccessLog(app),
        host=host,
        port=port,
        threads=threads,
        clear_untrusted_proxy_headers=True,
        **proxy,
    )


def serve_development(app: WSGIApp, host: str, port: int) -> None:
    """Serve with Werkzeug's development server, restarting when a source file changes.

    Its debugger stays off: our error pages catch every exception anyway, and the debugger runs
    any Python a visitor types.
    """
    from werkzeug.serving import WSGIRequestHandler, run_simple

    class QuietHandler(WSGIRequestHandler):
        """Werkzeug's own request line prints tokens; AccessLog writes the line instead."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

    run_simple(
        host,
        port,
        AccessLog(app),
        threaded=True,
        use_reloader=True,
        use_debugger=False,
        request_handler=QuietHandler,
    )
