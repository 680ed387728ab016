"""Bounces and complaints read back from the bounce mailbox into the subscribers' state.

`fetch_bounces` reads every message of the bounce mailbox (see `outreach.mail.mailboxes`) and
classifies it: a delivery status notification (RFC 3464, and the common non-standard formats that
flufl.bounce knows: Postfix, Exim, qmail, Exchange, Yahoo...) is a hard or a soft bounce; an ARF
feedback report (RFC 5965) is a complaint. Each is tied to its delivery by, in this order, the
signed VERP return path (`outreach.mail.returnpath`), the original Message-ID, or the failed address.

- hard bounce: the subscriber becomes `bounced` and the address is suppressed;
- soft bounce: recorded; after `[mail] soft_bounce_limit` soft-bounced deliveries in a row the
  subscriber is treated as hard-bounced;
- complaint: the subscriber is unsubscribed (a consent event says why).

One `bounce_events` row per message (keyed by the message's SHA-256) makes a second run change
nothing. Each batch is committed before its messages are moved to the processed folder, so a
crash can at worst leave recorded messages in the inbox, which the next run moves. Messages that
are neither (auto-replies, spam) stay in the inbox for a person to read.
"""

from __future__ import annotations

import email
import email.message
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.mail.mailboxes import open_bounce_mailbox
from outreach.mail.returnpath import delivery_from_text
from outreach.models import BounceEvent, Delivery, Edition, Subscriber
from outreach.secrets import secret_key
from outreach.subscribers import store as subs
from outreach.workspace import Workspace

log = logging.getLogger(__name__)
KINDS = ("hard", "soft", "complaint", "delayed")
BATCH = 50
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "other", "virus"})
_STATUS_FIELD = re.compile(r"^Status:\s*([245]\.\d{1,3}\.\d{1,3})", re.MULTILINE | re.IGNORECASE)
_ENHANCED_CODE = re.compile(r"(?<![\d.])([45])\.\d{1,3}\.\d{1,3}(?![\d.])")
_ACTION_FIELD = re.compile(r"^Action:\s*(\w+)", re.MULTILINE | re.IGNORECASE)
_MESSAGE_ID = re.compile(r"^Message-ID:\s*(<[^<>\s]+>)", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class Classified:
    """What one message reports: kind (hard/soft/complaint, or None), addresses and a detail."""

    kind: str | None
    recipients: tuple[str, ...] = ()
    detail: str = ""


@dataclass
class FetchReport:
    """What a run of `fetch_bounces` did, for the CLI and `run-due`."""

    source: str
    read: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    already_recorded: int = 0
    unmatched: int = 0
    suppressed: int = 0
    unsubscribed: int = 0
    left: int = 0

    @property
    def moved(self) -> int:
        return sum(self.counts.values()) + self.already_recorded


def message_text(message: email.message.Message, data: bytes) -> str:
    """The raw message and every decoded part as one text, to search for VERP addresses and
    Message-IDs (a bounce may quote the original base64- or quoted-printable-encoded)."""
    pieces = [data.decode("utf-8", errors="replace")]
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            pieces.append(payload.decode("utf-8", errors="replace"))
    return "\n".join(pieces)


def _feedback_fields(message: email.message.Message) -> email.message.Message | None:
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload:
            first = payload[0]
            return first if isinstance(first, email.message.Message) else None
        if isinstance(payload, str):
            return email.message_from_string(payload)
    return None


def _addresses(values: list[str]) -> tuple[str, ...]:
    found = []
    for value in values:
        address = value.split(";", 1)[-1].strip().strip("<>").strip().lower()
        if "@" in address:
            found.append(address)
    return tuple(dict.fromkeys(found))


def classify(message: email.message.Message, text: str) -> Classified:
    """Hard bounce, soft bounce, complaint or nothing (None), with the addresses it names."""
    fields = _feedback_fields(message)
    if fields is not None:
        feedback = str(fields.get("Feedback-Type", "")).strip().lower()
        if feedback not in COMPLAINT_TYPES:
            return Classified(None)
        recipients = _addresses(
            [
                str(v)
                for name in ("Original-Rcpt-To", "Removal-Recipient")
                for v in fields.get_all(name, [])
            ]
        )
        return Classified("complaint", recipients, f"feedback {feedback}")
    from flufl.bounce import all_failures

    temporary, permanent = all_failures(message)
    status = _STATUS_FIELD.search(text)
    code = status.group(1) if status else ""
    actions = {a.lower() for a in _ACTION_FIELD.findall(text)}
    if actions == {"delayed"}:
        # "Still trying": a warning, not a failure; the real bounce follows if it gives up.
        return Classified("delayed", (), code)
    if permanent or temporary:
        # A server that gives up after retrying reports "failed" with a 4.x.x status (mailbox
        # full, host down for days): a soft bounce, whatever the action says.
        kind = "hard" if permanent and not code.startswith("4") else "soft"
        addresses = _addresses([a.decode("utf-8", "replace") for a in (permanent | temporary)])
        return Classified(kind, addresses, code or ("5.0.0" if kind == "hard" else "4.0.0"))
    if status:
        return Classified("hard" if code.startswith("5") else "soft", (), code)
    return Classified(None)


def _looks_like_bounce(message: email.message.Message) -> bool:
    """A mangled report still comes from the mailer daemon with an empty return path."""
    return_path = str(message.get("Return-Path", "")).strip()
    sender = str(message.get("From", "")).lower()
    return return_path in ("<>", "") and ("mailer-daemon" in sender or "postmaster" in sender)


def _delivery(
    session: Session, workspace: Workspace, key: str | None, text: str
) -> Delivery | None:
    """The delivery a report is about: the VERP token first, then the original Message-ID."""
    if key is not None:
        delivery_id = delivery_from_text(workspace, key, text)
        if delivery_id is not None:
            delivery = session.get(Delivery, delivery_id)
            if delivery is not None:
                return delivery
    ids = list(dict.fromkeys(_MESSAGE_ID.findall(text)))
    if ids:
        return session.scalars(select(Delivery).where(Delivery.message_id.in_(ids))).first()
    return None


def _latest_sent(session: Session, subscriber_id: int) -> Delivery | None:
    return session.scalars(
        select(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status == "sent")
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(1)
    ).first()


def _soft_streak_reached(session: Session, subscriber_id: int, limit: int) -> bool:
    """The subscriber's last `limit` sent deliveries all bounced."""
    recent = session.scalars(
        select(Delivery.id)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status == "sent")
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(limit)
    ).all()
    if len(recent) < limit:
        return False
    bounced = set(
        session.scalars(
            select(BounceEvent.delivery_id).where(
                BounceEvent.delivery_id.in_(recent), BounceEvent.kind.in_(("soft", "hard"))
            )
        ).all()
    )
    return bounced >= set(recent)


def record_message(
    session: Session,
    workspace: Workspace,
    key: str | None,
    data: bytes,
    report: FetchReport,
) -> bool:
    """Classify one raw message and apply it; True if it is to be moved to the processed folder."""
    message_key = hashlib.sha256(data).hexdigest()
    if session.scalar(select(BounceEvent.id).where(BounceEvent.message_key == message_key)):
        report.already_recorded += 1
        return True
    message = email.message_from_bytes(data)
    text = message_text(message, data)
    try:
        found = classify(message, text)
    except Exception:  # a detector choking on a malformed message: leave it for a person
        log.exception("bounces: could not classify a message; left in the inbox")
        found = Classified(None)
    delivery = _delivery(session, workspace, key, text)
    if found.kind is None and delivery is not None and _looks_like_bounce(message):
        # A report no parser understands, but sent by a mailer daemon to one delivery's VERP
        # address: a bounce. Permanent only if it says so with a 5.x.x code.
        code = _ENHANCED_CODE.search(text)
        found = Classified("hard" if code and code.group(1) == "5" else "soft", (), "unparsed")
    if found.kind is None:
        report.left += 1
        return False
    subscriber: Subscriber | None = None
    if delivery is not None:
        subscriber = session.get(Subscriber, delivery.subscriber_id)
    else:
        for address in found.recipients:
            subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
            if subscriber is not None:
                break
        if subscriber is not None:
            # Only the address to go by: most likely the latest mail we sent there.
            delivery = _latest_sent(session, subscriber.id)
    session.add(
        BounceEvent(
            message_key=message_key,
            kind=found.kind,
            delivery_id=delivery.id if delivery else None,
            subscriber_id=subscriber.id if subscriber else None,
            edition_id=delivery.edition_id if delivery else None,
            detail=found.detail[:200] or None,
        )
    )
    session.flush()
    report.counts[found.kind] += 1
    if found.kind == "delayed":
        return True
    if subscriber is None or subscriber.email is None:
        report.unmatched += 1
        return True
    _apply(session, workspace, subscriber, found, report)
    return True


def _apply(
    session: Session,
    workspace: Workspace,
    subscriber: Subscriber,
    found: Classified,
    report: FetchReport,
) -> None:
    assert subscriber.email is not None
    if found.kind == "complaint":
        if subscriber.status in ("pending", "confirmed"):
            subs.set_status(
                session, subscriber, "unsubscribed", "complaint (ARF report)", found.detail
            )
            report.unsubscribed += 1
        return
    limit = max(1, workspace.settings.mail.soft_bounce_limit)
    if found.kind == "soft" and not _soft_streak_reached(session, subscriber.id, limit):
        return
    reason = found.detail if found.kind == "hard" else f"{limit} soft bounces in a row"
    subs.suppress(session, subscriber.email, "bounced")
    if subscriber.status in ("pending", "confirmed"):
        subs.set_status(session, subscriber, "bounced", f"bounce ({found.kind})", reason)
        report.suppressed += 1


def edition_bounce_counts(session: Session, slug: str) -> dict[str, int]:
    """Bounces and complaints recorded for an edition's deliveries, by kind."""
    rows = session.execute(
        select(BounceEvent.kind, func.count())
        .join(Edition, Edition.id == BounceEvent.edition_id)
        .where(Edition.slug == slug)
        .group_by(BounceEvent.kind)
    )
    return dict.fromkeys(KINDS, 0) | {str(kind): int(count) for kind, count in rows}


def bounce_mailbox_configured(workspace: Workspace) -> bool:
    """True when `fetch_bounces` has a mailbox to read (for `run-due`, which skips it otherwise)."""
    settings = workspace.settings.mail
    return bool(settings.imap_host or settings.bounce_mailbox)


def fetch_bounces(
    session: Session,
    workspace: Workspace,
    source: str | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> FetchReport:
    """Read the bounce mailbox, record what it reports and move the processed messages.

    Commits `session` after each batch, before that batch is moved (see the module docstring).
    `source` is a Maildir or mbox path instead of the configured mailbox. `progress(done, total)`
    is called after each message.
    """
    key = secret_key(workspace.root) if workspace.settings.mail.bounce_address else None
    with open_bounce_mailbox(workspace, source) as mailbox:
        report = FetchReport(mailbox.description)
        batch: list[str] = []
        total = mailbox.count()
        for stored in mailbox.messages():
            report.read += 1
            if record_message(session, workspace, key, stored.data, report):
                batch.append(stored.key)
            if len(batch) >= BATCH:
                session.commit()
                mailbox.move_processed(batch)
                batch = []
            if progress:
                progress(report.read, max(total, report.read))
        session.commit()
        mailbox.move_processed(batch)
    return report
