"""The app under a real waitress server in this process, and raw HTTP requests to it."""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlencode, urlsplit

import waitress


@contextlib.contextmanager
def serving(app: Any, threads: int = 4) -> Iterator[str]:
    """Serve the WSGI `app` with waitress on a free local port; yield 'http://127.0.0.1:N'."""
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    finally:

        def stop() -> None:  # runs in the server's loop thread: the map empties, the loop ends
            for channel in list(server._map.values()):  # type: ignore[union-attr]
                if channel is not server and channel is not server.trigger:  # type: ignore[union-attr]
                    channel.close()
            server.close()

        server.trigger.pull_trigger(stop)  # type: ignore[union-attr]
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()  # type: ignore[union-attr]


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def fetch(
    base: str,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
) -> Reply:
    """One request on its own connection; headers are sent exactly as given (even empty ones)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        body = urlencode(form).encode() if form is not None else None
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Type", "application/x-www-form-urlencoded")
            connection.putheader("Content-Length", str(len(body)))
        connection.putheader("Connection", "close")
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        return Reply(response.status, response.msg, data)
    finally:
        connection.close()


def cookie_of(reply: Reply) -> str:
    """The `name=value` pairs of the reply's Set-Cookie headers, for a Cookie header."""
    cookies = reply.headers.get_all("Set-Cookie") or []
    return "; ".join(cookie.split(";", 1)[0] for cookie in cookies)
