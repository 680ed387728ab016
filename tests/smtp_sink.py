"""A real SMTP server for tests and the benchmark (aiosmtpd Controller on a free local port).

It logs every accepted message (the server's own record of who got what) and can be scripted per
recipient: answer 250, 451, 454 or 550, or drop the connection, once or always; and it can be slowed.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email import policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    @property
    def message(self) -> Any:
        return email.message_from_bytes(self.data, policy=policy.default)


@dataclass
class ScriptedHandler:
    """Per-recipient scripts: a deque of actions used one per attempt; `always` applies when empty.

    Actions: '250', '451', '454', '550' (at RCPT for 451/550, after DATA for 454), 'drop-rcpt'
    (close the connection when the recipient is given), 'data-550' (reject after the data),
    'drop-data' (keep the message, then close the connection without replying: the client cannot
    know it was delivered).
    """

    delay: float = 0.0
    parse: bool = True
    scripts: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    always: dict[str, str] = field(default_factory=dict)
    log: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, address: str, *actions: str) -> None:
        self.scripts[address.lower()].extend(actions)

    def _action(self, address: str) -> str:
        queue = self.scripts.get(address.lower())
        if queue:
            return queue[0]
        return self.always.get(address.lower(), "250")

    def _consume(self, address: str) -> None:
        queue = self.scripts.get(address.lower())
        if queue:
            queue.popleft()

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.attempts[address.lower()] += 1
        action = self._action(address)
        if action == "drop-rcpt":
            self._consume(address)
            server.transport.close()
            return "421 4.3.0 closing"
        if action in ("451", "550"):
            self._consume(address)
            return {"451": "451 4.3.0 Try again later", "550": "550 5.1.1 No such user"}[action]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        address = envelope.rcpt_tos[0]
        action = self._action(address)
        if action in ("454", "data-550"):
            self._consume(address)
            return {"454": "454 4.7.0 Temporary failure", "data-550": "550 5.7.1 Content rejected"}[
                action
            ]
        self._consume(address)
        if action == "drop-data":
            with self.lock:
                self.log.append(
                    Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
                )
            server.transport.close()
            return "421 4.3.0 closing"
        # Record before replying, like a real MTA that queues the message and then says 250: a client
        # killed while waiting for the reply has still delivered the message.
        with self.lock:
            self.log.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 2.0.0 Queued"

    def recipients(self) -> list[str]:
        with self.lock:
            return [r.lower() for received in self.log for r in received.rcpt_to]


class SinkController(Controller):
    def __init__(self, handler: ScriptedHandler, port: int | None = None) -> None:
        super().__init__(
            handler, hostname="127.0.0.1", port=port or free_port(), data_size_limit=None
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"
