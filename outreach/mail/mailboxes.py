"""Where bounces are read: an IMAP mailbox (imap-tools), a local Maildir or an mbox file.

Each source lists its messages and moves the processed ones to a folder (`[mail] processed_folder`):
an IMAP folder, a Maildir++ subfolder (`.outreach-processed`), or for an mbox a second mbox file
beside it (`<file>.outreach-processed`). A move copies before it deletes, so a message is never
lost; the caller records a message in the database before it asks for the move.

IMAP settings are in `[mail]`: `imap_host`, `imap_port`, `imap_security` (`tls` = implicit TLS,
`starttls`, or `none`, allowed only for a loopback host), `imap_user`, `imap_folder`. The password
comes from `OUTREACH_IMAP_PASSWORD` or `OUTREACH_IMAP_PASSWORD_FILE` (see `outreach.secrets`).
"""

from __future__ import annotations

import contextlib
import imaplib
import mailbox
import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from outreach.errors import ConfigError, MailError
from outreach.mail.transport_url import LOOPBACK_HOSTS
from outreach.secrets import read_secret
from outreach.workspace import Workspace

IMAP_PASSWORD_VARIABLE = "OUTREACH_IMAP_PASSWORD"
SECURITY = ("tls", "starttls", "none")
FETCH_CHUNK = 50
_UID = re.compile(rb"\bUID (\d+)")


@dataclass(frozen=True)
class StoredMessage:
    """One message of a mailbox: its key in that mailbox and its raw bytes."""

    key: str
    data: bytes


class BounceMailbox(Protocol):
    """A source of bounce messages. Use as a context manager."""

    description: str

    def count(self) -> int: ...

    def messages(self) -> Iterator[StoredMessage]: ...

    def move_processed(self, keys: Sequence[str]) -> None: ...

    def __enter__(self) -> BounceMailbox: ...

    def __exit__(self, *exc: object) -> None: ...


class ImapMailbox:
    """A folder on an IMAP server; processed messages are MOVEd (or copied and expunged)."""

    def __init__(self, workspace: Workspace) -> None:
        settings = workspace.settings.mail
        if settings.imap_security not in SECURITY:
            raise ConfigError(f"[mail] imap_security must be one of {', '.join(SECURITY)}")
        if settings.imap_security == "none" and settings.imap_host not in LOOPBACK_HOSTS:
            raise ConfigError(
                "[mail] imap_security = 'none' is allowed only for a local server: the password "
                "would travel in clear text"
            )
        if not settings.imap_user:
            raise ConfigError("[mail] imap_host is set but imap_user is not")
        password = read_secret(IMAP_PASSWORD_VARIABLE, workspace_root=workspace.root)
        if not password:
            raise ConfigError(
                f"no IMAP password: export {IMAP_PASSWORD_VARIABLE} (or "
                f"{IMAP_PASSWORD_VARIABLE}_FILE)"
            )
        self.settings = settings
        self._password = password
        self.description = (
            f"imap://{settings.imap_user}@{settings.imap_host}:{settings.imap_port}/"
            f"{settings.imap_folder}"
        )
        self._box: Any = None

    def __enter__(self) -> ImapMailbox:
        from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
        from imap_tools.errors import MailboxLoginError

        cfg = self.settings
        timeout = cfg.timeout_seconds
        # Explicitly: imaplib's own default context does not verify the server's certificate.
        context = ssl.create_default_context()
        try:
            if cfg.imap_security == "tls":
                box: Any = MailBox(
                    cfg.imap_host, cfg.imap_port, timeout=timeout, ssl_context=context
                )
            elif cfg.imap_security == "starttls":
                box = MailBoxStartTls(
                    cfg.imap_host, cfg.imap_port, timeout=timeout, ssl_context=context
                )
            else:
                box = MailBoxUnencrypted(cfg.imap_host, cfg.imap_port, timeout=timeout)
            box.login(cfg.imap_user, self._password, initial_folder=cfg.imap_folder)
        except ssl.SSLCertVerificationError as exc:
            raise MailError(
                f"TLS certificate of {cfg.imap_host} not accepted: {exc.verify_message}"
            ) from None
        except MailboxLoginError:
            raise MailError(
                f"IMAP login as {cfg.imap_user} on {cfg.imap_host} failed; check "
                f"{IMAP_PASSWORD_VARIABLE} and the folder {cfg.imap_folder!r}"
            ) from None
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            raise MailError(f"cannot read {self.description}: {_describe(exc)}") from None
        self._box = box
        try:
            if not box.folder.exists(cfg.processed_folder):
                box.folder.create(cfg.processed_folder)
        except (OSError, imaplib.IMAP4.error) as exc:
            self.__exit__()
            raise MailError(
                f"cannot create the IMAP folder {cfg.processed_folder!r}: {_describe(exc)}"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        box, self._box = self._box, None
        if box is not None:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                box.logout()

    def count(self) -> int:
        try:
            return len(self._box.uids())
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailError(f"reading {self.description} failed: {_describe(exc)}") from None

    def messages(self) -> Iterator[StoredMessage]:
        # The raw bytes, as stored (imap-tools' fetch keeps only a parsed copy): the message key
        # is their hash, and a report no parser likes must still reach ours unchanged.
        try:
            uids = list(self._box.uids())
            for start in range(0, len(uids), FETCH_CHUNK):
                chunk = ",".join(uids[start : start + FETCH_CHUNK])
                status, fetched = self._box.client.uid("FETCH", chunk, "(UID BODY.PEEK[])")
                if status != "OK":
                    raise MailError(f"reading {self.description} failed: {fetched!r}")
                for item in fetched:
                    if not isinstance(item, tuple):
                        continue
                    uid = _UID.search(item[0])
                    if uid is not None and isinstance(item[1], bytes):
                        yield StoredMessage(uid.group(1).decode("ascii"), item[1])
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailError(f"reading {self.description} failed: {_describe(exc)}") from None

    def move_processed(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            self._box.move(list(keys), self.settings.processed_folder)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailError(
                f"moving messages to {self.settings.processed_folder!r} failed: {_describe(exc)}"
            ) from None


class LocalMailbox:
    """A Maildir folder or an mbox file on this machine."""

    def __init__(self, path: Path, processed_folder: str) -> None:
        if not path.exists():
            raise ConfigError(f"bounce mailbox {path} does not exist")
        self.path = path
        self.description = str(path)
        self.processed_folder = processed_folder
        self._keys: dict[str, Any] = {}
        self._box: mailbox.Mailbox[Any]
        self._done: mailbox.Mailbox[Any]
        if path.is_dir():
            if not (path / "cur").is_dir() or not (path / "new").is_dir():
                raise ConfigError(f"{path} is a folder but not a Maildir (no cur/ and new/)")
            maildir = mailbox.Maildir(path, factory=None, create=False)
            self._box = maildir
            self._done = (
                maildir.get_folder(processed_folder)
                if processed_folder in maildir.list_folders()
                else maildir.add_folder(processed_folder)
            )
        else:
            self._box = mailbox.mbox(path, create=False)
            self._done = mailbox.mbox(path.with_name(f"{path.name}.{processed_folder}"))

    def __enter__(self) -> LocalMailbox:
        self._box.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self._box.flush()
        self._box.unlock()
        self._box.close()
        self._done.close()

    def count(self) -> int:
        return len(self._box)

    def messages(self) -> Iterator[StoredMessage]:
        # mbox keys are integers, Maildir keys strings: callers see strings.
        self._keys = {str(key): key for key in self._box.iterkeys()}
        for shown, key in self._keys.items():
            yield StoredMessage(shown, self._box.get_bytes(key))

    def move_processed(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._done.add(self._box.get_bytes(self._keys[key]))
        self._done.flush()  # on disk before the originals go
        for key in keys:
            self._box.remove(self._keys[key])
        self._box.flush()


def open_bounce_mailbox(workspace: Workspace, source: str | None = None) -> BounceMailbox:
    """The mailbox to read: `source` (a Maildir or mbox path), else IMAP, else `bounce_mailbox`."""
    settings = workspace.settings.mail
    if source:
        return LocalMailbox(workspace.path(source), settings.processed_folder)
    if settings.imap_host:
        return ImapMailbox(workspace)
    if settings.bounce_mailbox:
        return LocalMailbox(workspace.path(settings.bounce_mailbox), settings.processed_folder)
    raise ConfigError(
        "no bounce mailbox: set [mail] imap_host (and imap_user) or [mail] bounce_mailbox "
        "(a Maildir or mbox path), or give a path"
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, imaplib.IMAP4.error):
        return " ".join(str(exc).split()) or type(exc).__name__
    return str(exc) or type(exc).__name__
