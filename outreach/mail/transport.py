"""How mail leaves: an outbox folder of .eml files, or SMTP (STARTTLS or implicit TLS).

The transport URL comes from the `[mail] transport` setting:

- `outbox:newsletters/outbox` writes each message as a unique `.eml` file (atomically), relative to
  the workspace. The default, so the demo and a fresh workspace never mail anyone.
- `smtp://user@host:587` submits with STARTTLS (required) and logs in as `user`.
- `smtps://user@host:465` submits over implicit TLS and logs in as `user`.
- `smtp://host:25` without a user submits without logging in. STARTTLS is still required unless the
  host is a loopback address (localhost, 127.0.0.1, ::1: a local relay or test sink), where it is used
  only if the server offers it. `?starttls=false` turns STARTTLS off explicitly; it is refused together
  with a user on a non-loopback host, since the password would travel in clear text.
- `?timeout=SECONDS` overrides `[mail] timeout_seconds`.

The password never appears in the URL or in settings: it comes from `OUTREACH_SMTP_PASSWORD` (or
`OUTREACH_SMTP_PASSWORD_FILE`, see `outreach.secrets`).

`send()` never raises for a delivery problem: it returns a `SendResult` classified by the SMTP reply
code (2xx sent, 4xx transient, 5xx permanent), because smtplib's exception types do not say which
(`SMTPRecipientsRefused` covers both 451 and 550, a 454 arrives as `SMTPDataError`). A connection the
server dropped is reopened once before MAIL FROM; a drop during DATA is reported as transient with
`uncertain=True` (the server may have the message). Only problems the user must fix (bad URL, missing password, failed login, TLS
certificate errors) raise `MailError`.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from outreach.addresses import SMTPUTF8_REQUIREMENT, needs_smtputf8
from outreach.errors import MailError
from outreach.fsutil import atomic_write_bytes
from outreach.mail.message import envelope_address, message_bytes
from outreach.mail.transport_url import (
    PASSWORD_VARIABLE,
    SmtpConfig,
    parse_transport_url,
)
from outreach.secrets import read_secret

if TYPE_CHECKING:
    from outreach.workspace import Workspace

Outcome = Literal["sent", "transient", "permanent"]


@dataclass(frozen=True)
class SendResult:
    """What happened to one message.

    `outcome` is 'sent' (2xx), 'transient' (4xx, or the connection failed: try again later) or
    'permanent' (5xx: do not retry). `recipient_refused` is True only when the server rejected the
    recipient address itself (5xx to RCPT TO, or an X.1.X mailbox status after DATA): the cue to
    suppress the address. A 5xx to MAIL FROM or to the content is not the recipient's fault.
    """

    outcome: Outcome
    code: int | None = None
    detail: str = ""
    message_id: str | None = None
    recipient_refused: bool = False
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    # The connection was lost after the message data may have reached the server: it may have been
    # delivered. A ledger must not retry this on its own (that is how duplicates happen).
    uncertain: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome == "sent"


def classify(code: int) -> Outcome:
    """SMTP reply code to outcome: 2xx sent, 5xx permanent, everything else (4xx, odd) transient."""
    if 200 <= code < 300:
        return "sent"
    if 500 <= code < 600:
        return "permanent"
    return "transient"


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", errors="replace")
    return " ".join(reply.split())


class Transport(Protocol):
    """Sends one message at a time. Not thread-safe: use one transport per thread."""

    def send(self, message: EmailMessage) -> SendResult: ...

    def send_bytes(
        self, envelope_from: str, recipients: Sequence[str], data: bytes, message_id: str | None
    ) -> SendResult: ...

    def close(self) -> None: ...

    def __enter__(self) -> Transport: ...

    def __exit__(self, *exc: object) -> None: ...


Signer = Callable[[bytes], bytes]


def envelope(message: EmailMessage) -> tuple[str, list[str]]:
    """Envelope sender (Sender or From) and recipients (To, Cc, Bcc) of a message."""
    senders = getaddresses(
        [str(v) for v in message.get_all("Sender", []) or message.get_all("From", [])]
    )
    if not senders or "@" not in senders[0][1]:
        raise MailError("the message has no From address")
    recipients = [
        addr
        for _, addr in getaddresses(
            [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
        )
        if addr
    ]
    if not recipients:
        raise MailError("the message has no recipients")
    return senders[0][1], recipients


class _BaseTransport:
    signer: Signer | None = None

    def send(self, message: EmailMessage) -> SendResult:
        """Send a built message to its To/Cc/Bcc addresses (Bcc is not written out)."""
        envelope_from, recipients = envelope(message)
        if "Bcc" in message:
            del message["Bcc"]
        return self.send_bytes(
            envelope_from, recipients, message_bytes(message), message["Message-ID"]
        )

    def send_bytes(
        self, envelope_from: str, recipients: Sequence[str], data: bytes, message_id: str | None
    ) -> SendResult:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OutboxTransport(_BaseTransport):
    """Writes each message as `<UTC time>-<random>.eml` in a folder (atomically: no half files)."""

    _lock = threading.Lock()

    def __init__(self, directory: Path, signer: Signer | None = None) -> None:
        self.directory = directory
        self.signer = signer

    def send_bytes(
        self, envelope_from: str, recipients: Sequence[str], data: bytes, message_id: str | None
    ) -> SendResult:
        if self.signer is not None:
            data = self.signer(data)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data, private=True)  # addresses: personal data
        except OSError as exc:
            raise MailError(
                f"cannot write to the outbox {self.directory}: {exc.strerror}"
            ) from None
        return SendResult("sent", 250, f"written to {path.name}", message_id)


class SmtpTransport(_BaseTransport):
    """One SMTP connection, opened on first use and reopened after the server drops it."""

    def __init__(self, config: SmtpConfig, signer: Signer | None = None) -> None:
        self.config = config
        self.signer = signer
        self._conn: smtplib.SMTP | None = None

    # -- connection -------------------------------------------------------------------------
    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        context = ssl.create_default_context()
        try:
            conn: smtplib.SMTP
            if cfg.implicit_tls:
                conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            try:
                conn.ehlo()
                if not cfg.implicit_tls and cfg.starttls != "off":
                    if conn.has_extn("starttls"):
                        conn.starttls(context=context)
                        conn.ehlo()
                    elif cfg.starttls == "required":
                        raise MailError(
                            f"{cfg.host}:{cfg.port} does not offer STARTTLS; refusing to send in "
                            "clear text (use smtps:// or add ?starttls=false for a local relay)"
                        )
                if cfg.user:
                    conn.login(cfg.user, cfg.password or "")
            except BaseException:
                conn.close()
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"SMTP login as {cfg.user} on {cfg.host} failed ({exc.smtp_code} "
                f"{_text(exc.smtp_error)}); check {PASSWORD_VARIABLE}"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise MailError(
                f"TLS certificate of {cfg.host} not accepted: {exc.verify_message}"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(f"{cfg.host}: {exc}") from None
        self._conn = conn
        return conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- sending ----------------------------------------------------------------------------
    def send_bytes(
        self, envelope_from: str, recipients: Sequence[str], data: bytes, message_id: str | None
    ) -> SendResult:
        try:
            envelope_from = envelope_address(envelope_from)
            recipients = [envelope_address(r) for r in recipients]
        except MailError as exc:
            return SendResult("permanent", None, str(exc), message_id)
        if self.signer is not None:
            data = self.signer(data)
        for attempt in (1, 2):
            try:
                conn = self._conn or self._connect()
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                return SendResult(
                    "transient",
                    None,
                    f"cannot connect to {self.config.host}:{self.config.port}: {_describe(exc)}",
                    message_id,
                )
            try:
                return self._transaction(conn, envelope_from, recipients, data, message_id)
            except _DroppedBeforeData as exc:
                # The server closed the connection before it saw the message (an idle timeout, a
                # 421): nothing can have been delivered, so reconnect and try once more.
                self._drop()
                if attempt == 2:
                    return SendResult("transient", exc.code, exc.detail, message_id)
            except (OSError, smtplib.SMTPException) as exc:
                # Only DATA gets here (drops at MAIL/RCPT are _DroppedBeforeData): the server may
                # have the whole message, so the outcome is uncertain.
                self._drop()
                return SendResult(
                    "transient",
                    None,
                    f"connection lost while sending the message data: {_describe(exc)}",
                    message_id,
                    uncertain=True,
                )
        raise AssertionError("unreachable")

    def _transaction(
        self,
        conn: smtplib.SMTP,
        envelope_from: str,
        recipients: Sequence[str],
        data: bytes,
        message_id: str | None,
    ) -> SendResult:
        options = self._mail_options(conn, envelope_from, recipients)
        if isinstance(options, SendResult):
            return replace(options, message_id=message_id)
        try:
            code, reply = conn.mail(envelope_from, options)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise _DroppedBeforeData(None, f"connection lost: {_describe(exc)}") from None
        if code == 421:
            raise _DroppedBeforeData(code, _text(reply))
        if classify(code) != "sent":
            self._reset(conn)
            # A refused sender is about us, not the recipient: never grounds for suppression.
            return SendResult(classify(code), code, f"MAIL FROM: {_text(reply)}", message_id)
        refused: dict[str, tuple[int, str]] = {}
        for recipient in recipients:
            try:
                code, reply = conn.rcpt(recipient)
            except (OSError, smtplib.SMTPServerDisconnected) as exc:
                raise _DroppedBeforeData(None, f"connection lost: {_describe(exc)}") from None
            if code == 421:
                raise _DroppedBeforeData(code, _text(reply))
            if classify(code) != "sent":
                refused[recipient] = (code, _text(reply))
        if len(refused) == len(recipients):
            self._reset(conn)
            # Several recipients: the mildest outcome wins (one 4xx means "try again").
            code = min(refused.values(), key=lambda cr: (classify(cr[0]) == "permanent", cr[0]))[0]
            outcome = classify(code)
            detail = "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
            return SendResult(
                outcome, code, detail, message_id, outcome == "permanent", dict(refused)
            )
        try:
            code, reply = conn.data(data)
        except smtplib.SMTPDataError as exc:  # the reply to DATA itself was not 354
            self._reset(conn)
            return SendResult(
                classify(exc.smtp_code), exc.smtp_code, f"DATA: {_text(exc.smtp_error)}", message_id
            )
        outcome = classify(code)
        detail = _text(reply)
        if outcome != "sent":
            if code == 421:
                self._drop()
            return SendResult(
                outcome,
                code,
                detail,
                message_id,
                outcome == "permanent" and _mailbox_status(detail),
                refused,
            )
        return SendResult("sent", code, detail, message_id, refused=refused)

    def _mail_options(
        self, conn: smtplib.SMTP, envelope_from: str, recipients: Sequence[str]
    ) -> list[str] | SendResult:
        """MAIL FROM parameters: SMTPUTF8 when an address needs it, or the permanent failure."""
        needing = [a for a in (envelope_from, *recipients) if needs_smtputf8(a)]
        if not needing:
            return []
        if not conn.has_extn("smtputf8"):
            # Not the address's fault: another server (or a relay that offers it) can deliver it.
            return SendResult(
                "permanent",
                None,
                f"{', '.join(needing)}: {SMTPUTF8_REQUIREMENT}, and {self.config.host} does not "
                "offer it",
            )
        return ["SMTPUTF8"] + (["BODY=8BITMIME"] if conn.has_extn("8bitmime") else [])

    def _reset(self, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()


class _DroppedBeforeData(Exception):
    def __init__(self, code: int | None, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _mailbox_status(detail: str) -> bool:
    """An enhanced status code 5.1.x (bad mailbox/address) at the start of a reply text."""
    return detail.startswith("5.1.")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, socket.timeout):
        return "timed out"
    return str(exc) or type(exc).__name__


def transport_from_url(
    url: str,
    root: Path,
    *,
    timeout: float = 30.0,
    password: str | None = None,
    signer: Signer | None = None,
) -> Transport:
    """A transport for a URL; `outbox:` folders are relative to `root`."""
    kind, value = parse_transport_url(url, password=password, timeout=timeout)
    if kind == "outbox":
        assert isinstance(value, str)
        directory = Path(value)
        return OutboxTransport(directory if directory.is_absolute() else root / directory, signer)
    assert isinstance(value, SmtpConfig)
    return SmtpTransport(value, signer)


def open_transport(workspace: Workspace, url: str | None = None) -> Transport:
    """The workspace's transport (`[mail] transport`), DKIM-signing when it is configured.

    Each call opens a new, independent transport (one SMTP connection): a pool calls it once per
    worker. The connection is made on the first send.
    """
    from outreach.mail.signing import signer_from_settings

    settings = workspace.settings.mail
    chosen = url or settings.transport
    needs_password = "@" in chosen.split("?", 1)[0] and not chosen.startswith("outbox:")
    password = (
        read_secret(PASSWORD_VARIABLE, workspace_root=workspace.root) if needs_password else None
    )
    return transport_from_url(
        chosen,
        workspace.root,
        timeout=settings.timeout_seconds,
        password=password,
        signer=signer_from_settings(workspace),
    )
