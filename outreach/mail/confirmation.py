"""Mails to one person outside an edition: the double opt-in confirmation and the welcome.

They are sent from the queue in `subscribers.queue` by `send_due_confirmations`, called by the
worker thread of `outreach serve` (`ConfirmationWorker`) and by `outreach run-due`. The texts are
templates (`confirmation.sv.txt`, `welcome.en.txt`, ...) shipped in `mail/templates/`; a file with
the same name in the workspace's `templates/` overrides one. The first line is `Subject: ...`;
`${name}` placeholders are filled in (see TEMPLATE_FIELDS). Every mail ends with the contact address
and the privacy notice when they are set.
"""

from __future__ import annotations

import datetime as dt
import logging
import string
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy.orm import Session

from outreach import urls
from outreach.db import session_scope
from outreach.errors import MailError, OutreachError
from outreach.mail.message import build_message, message_bytes
from outreach.mail.transport import SendResult, open_transport
from outreach.models import Subscriber, utcnow
from outreach.secrets import secret_key
from outreach.subscribers import queue
from outreach.subscribers.store import confirm_token, unsubscribe_token
from outreach.workspace import Workspace

log = logging.getLogger(__name__)

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
UNLIMITED_ROUND = 1000  # mails per round when confirmations_per_minute is 0 (no limit)
TEMPLATE_NAMES = {queue.CONFIRM: "confirmation", queue.WELCOME: "welcome"}
TEMPLATE_FIELDS = ("list", "greeting", "link", "hours", "archive_url", "preferences_url")
GREETINGS = {"sv": ("Hej {name}!", "Hej!"), "en": ("Hello {name},", "Hello,")}
FOOTER = {
    "sv": {"contact": "Frågor? Skriv till", "privacy": "Så hanterar vi personuppgifter:"},
    "en": {"contact": "Questions? Write to", "privacy": "How we handle personal data:"},
}


@dataclass
class QueueReport:
    sent: int = 0
    failed: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def footer(workspace: Workspace, language: str) -> str:
    """The contact and privacy lines every mail ends with ('' when neither is set)."""
    texts = FOOTER.get(language, FOOTER["sv"])
    lines = []
    contact = workspace.settings.newsletter.contact_address
    if contact:
        lines.append(f"{texts['contact']} {contact}")
    privacy = workspace.settings.web.privacy_url
    if privacy:
        lines.append(f"{texts['privacy']} {privacy}")
    return "\n".join(lines)


def _template(workspace: Workspace, name: str) -> tuple[Path, str]:
    for folder in (workspace.templates_dir, PACKAGE_TEMPLATES):
        path = folder / name
        if path.is_file():
            try:
                return path, path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise MailError(f"{path}: cannot read the mail template: {exc}") from None
    raise MailError(f"no mail template {name}")


def render_mail(
    workspace: Workspace, kind: str, language: str, values: dict[str, str]
) -> tuple[str, str]:
    """(subject, plain-text body with footer) of the `kind` template in `language` (sv fallback)."""
    language = language if language in GREETINGS else "sv"
    path, source = _template(workspace, f"{kind}.{language}.txt")
    first, _, body = source.partition("\n")
    if not first.startswith("Subject:"):
        raise MailError(f"{path}: the first line must be 'Subject: ...'")
    try:
        subject = string.Template(first.removeprefix("Subject:").strip()).substitute(values)
        text = string.Template(body.strip("\n")).substitute(values)
    except (KeyError, ValueError) as exc:
        raise MailError(
            f"{path}: unknown placeholder {exc} (use ${', $'.join(TEMPLATE_FIELDS)})"
        ) from None
    end = footer(workspace, language)
    return " ".join(subject.split()), text.rstrip() + "\n" + (f"\n--\n{end}\n" if end else "")


def _values(workspace: Workspace, key: str, subscriber: Subscriber) -> dict[str, str]:
    language = subscriber.language if subscriber.language in GREETINGS else "sv"
    named, anonymous = GREETINGS[language]
    return {
        "list": workspace.settings.newsletter.name,
        "greeting": named.format(name=subscriber.name) if subscriber.name else anonymous,
        "hours": str(workspace.settings.web.confirm_link_hours),
        "archive_url": urls.archive_index_url(workspace),
        "link": urls.confirm_url(workspace, confirm_token(key, subscriber)),
        "preferences_url": urls.preferences_url(workspace, unsubscribe_token(key, subscriber)),
    }


def build_queued_message(workspace: Workspace, key: str, mail: queue.DueMail) -> EmailMessage:
    """The confirmation or welcome message for a claimed queue row."""
    subscriber = Subscriber(
        id=mail.subscriber_id, email=mail.email, name=mail.name, language=mail.language
    )
    values = _values(workspace, key, subscriber)
    subject, text = render_mail(workspace, TEMPLATE_NAMES[mail.kind], mail.language, values)
    settings = workspace.settings.newsletter
    headers = {"Auto-Submitted": "auto-generated"}
    if mail.kind == queue.WELCOME:
        # A confirmed subscriber: the welcome is a list message and carries the one-click link.
        unsubscribe = values["preferences_url"]
        return build_message(
            sender=settings.from_address,
            to=mail.email,
            subject=subject,
            text=text,
            reply_to=settings.reply_to or None,
            list_id=f"{settings.name} <{settings.list_id}>",
            list_unsubscribe=[unsubscribe],
            one_click=unsubscribe.startswith("https://"),
            headers=headers,
        )
    # Not a list message: no List-Unsubscribe, the recipient has not subscribed yet.
    return build_message(
        sender=settings.from_address,
        to=mail.email,
        subject=subject,
        text=text,
        reply_to=settings.reply_to or None,
        headers=headers,
    )


def _record(session: Session, mail: queue.DueMail, result: SendResult, report: QueueReport) -> None:
    if result.ok:
        queue.mark_sent(session, mail.id, utcnow())
        report.sent += 1
        return
    error = f"{result.code or ''} {result.detail}".strip()  # never "None ..." without a code
    permanent = result.outcome == "permanent"
    queue.mark_failed(session, mail.id, error, permanent=permanent, now=utcnow())
    report.rejected += permanent
    report.failed += not permanent
    report.errors.append(error)


def send_due_confirmations(
    session: Session,
    workspace: Workspace,
    *,
    key: str | None = None,
    now: dt.datetime | None = None,
) -> QueueReport:
    """Send what is due in the queue, at most `[subscribers] confirmations_per_minute` (0: no limit).

    Commits as it goes (a claim, then each result), so a crash never sends a mail twice within the
    lease and never loses one. A transport that cannot be opened fails the claimed rows (they are
    retried later) and raises.
    """
    now = now or utcnow()
    key = key or secret_key(workspace.root)
    report = QueueReport()
    per_minute = workspace.settings.subscribers.confirmations_per_minute
    if per_minute > 0:
        budget = per_minute - queue.sent_since(session, now - dt.timedelta(minutes=1))
    else:
        budget = UNLIMITED_ROUND
    if budget <= 0:
        return report
    due = queue.claim_due(session, budget, now)
    if not due:
        return report
    done = 0
    try:
        # Bounces of these mails go to the bounce mailbox too, where `bounces fetch` marks an
        # address that does not exist as bounced before anyone sends it another mail.
        bounce_address = workspace.settings.mail.bounce_address
        with open_transport(workspace) as transport:
            for mail in due:
                message = build_queued_message(workspace, key, mail)
                if bounce_address:
                    result = transport.send_bytes(
                        bounce_address, [mail.email], message_bytes(message), message["Message-ID"]
                    )
                else:
                    result = transport.send(message)
                _record(session, mail, result, report)
                session.commit()
                done += 1
    except OutreachError as exc:
        for mail in due[done:]:
            queue.mark_failed(session, mail.id, str(exc), permanent=False, now=utcnow())
            report.failed += 1
        session.commit()
        raise
    return report


class ConfirmationWorker(threading.Thread):
    """`outreach serve`'s background sender: polls the queue every `[subscribers]
    queue_poll_seconds` until `stop()`. Errors are logged and retried on the next round."""

    def __init__(self, workspace: Workspace, key: str) -> None:
        super().__init__(name="outreach-confirmations", daemon=True)
        self.workspace = workspace
        self.key = key
        self._stop_event = threading.Event()

    def run(self) -> None:
        interval = max(0.5, self.workspace.settings.subscribers.queue_poll_seconds)
        while not self._stop_event.is_set():
            try:
                with session_scope(self.workspace) as session:
                    report = send_due_confirmations(session, self.workspace, key=self.key)
                if report.sent or report.failed or report.rejected:
                    log.info(
                        "confirmation queue: %d sent, %d to retry, %d rejected",
                        report.sent,
                        report.failed,
                        report.rejected,
                    )
            except Exception:  # the thread must survive anything: the next round retries
                log.exception("confirmation queue: sending failed")
            self._stop_event.wait(interval)

    def stop(self) -> None:
        self._stop_event.set()
