"""Review links and the mail that carries them.

`request_reviews` mails each guest a signed link (`/granska/<token>`), bound to one `ReviewRequest` row
(guest + episode + random nonce) that expires after `[review] link_days` and can be revoked;
`open_request` turns a token back into its live request.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from urllib.parse import urlsplit

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import tokens
from outreach.db import session_scope
from outreach.errors import (
    MailError,
    NotFoundError,
    TokenError,
    TokenExpiredError,
    TokenRevokedError,
    ValidationError,
)
from outreach.mail.message import build_message
from outreach.mail.transport import Transport, open_transport
from outreach.models import Episode, Person, ReviewRequest
from outreach.podcast import transcripts
from outreach.review.rules import get_episode, now, person_by_email
from outreach.urls import review_url
from outreach.workspace import Workspace

# --- Links ------------------------------------------------------------------------------------


def make_review_token(key: str, request: ReviewRequest) -> str:
    payload = {
        "r": request.id,
        "e": request.episode_id,
        "p": request.person_id,
        "n": request.nonce,
    }
    return tokens.make_token(key, tokens.REVIEW, payload)


def is_local_url(url: str) -> bool:
    """True for links only this machine can open (localhost, 127.x, ::1)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def open_request(
    session: Session, key: str, token: str, *, at: dt.datetime | None = None
) -> ReviewRequest:
    """The live request a token stands for; TokenError if tampered, foreign, revoked or expired."""
    payload = tokens.read_token(key, tokens.REVIEW, token)
    if not isinstance(payload, dict) or not all(k in payload for k in ("r", "e", "p", "n")):
        raise TokenError("the link is not valid")
    request = session.get(ReviewRequest, payload["r"]) if isinstance(payload["r"], int) else None
    if (
        request is None
        or request.episode_id != payload["e"]
        or request.person_id != payload["p"]
        or not hmac.compare_digest(str(payload["n"]), request.nonce)
    ):
        raise TokenError("the link is not valid")
    if request.revoked_at is not None:
        raise TokenRevokedError("the link has been revoked")
    if request.expires_at <= (at or now()):
        raise TokenExpiredError("the link has expired")
    return request


def mark_opened(request: ReviewRequest) -> None:
    if request.opened_at is None:
        request.opened_at = now()
    if request.state in ("not_sent", "sent"):
        request.state = "opened"


# --- Sending requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class SentRequest:
    name: str
    email: str
    expires_at: dt.datetime


@dataclass
class RequestReport:
    sent: list[SentRequest] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def review_mail_text(
    workspace: Workspace, episode: Episode, name: str, link: str, expires: dt.datetime
) -> tuple[str, str]:
    """(subject, plain-text body) of the review mail, in Swedish."""
    show = workspace.settings.show
    until = format_date(expires.date(), "d MMMM y", locale="sv")
    subject = f"Granska ditt transkript: {episode.title}"
    body = (
        f"Hej {name}!\n\n"
        f'Tack för att du var med i {show.title}, i avsnittet "{episode.title}". Innan vi '
        "publicerar avsnittet vill vi att du läser transkriptet och rättar det som blivit fel.\n\n"
        f"Öppna din personliga länk:\n\n{link}\n\n"
        "På sidan kan du lyssna på avsnittet, klicka på ett ord för att höra det, rätta texten i "
        "det du sa, lämna en kommentar och till sist godkänna transkriptet.\n\n"
        f"Länken gäller till och med {until} och är personlig: skicka "
        "den inte vidare.\n\n"
        f"Hälsningar\n{show.author}\n"
    )
    return subject, body


def request_reviews(
    workspace: Workspace, key: str, slug: str, *, guest: str | None = None
) -> RequestReport:
    """Mail review links to the episode's guests (or the one `guest`) and record them.

    Without `guest`, guests that already have a live link are skipped; with `guest`, that person
    always gets a new link and their older links stop working. Each guest is committed on its own,
    after their mail was accepted: a guest whose mail fails keeps no new link (and any older one
    stays live) and is listed in `failed`, and the others are still sent.
    """
    if not workspace.settings.review.enabled:
        raise ValidationError("guest review is switched off ([review] enabled = false)")
    report = RequestReport()
    with session_scope(workspace) as session:
        episode = get_episode(session, slug)
        if not transcripts.list_versions(session, episode):
            raise NotFoundError(
                f"episode {slug} has no transcript to review yet "
                f"(run `outreach episode transcribe {slug}` first)"
            )
        if guest is not None:
            targets = [person_by_email(episode, guest).id]
        else:
            targets = []
            for person in episode.people:
                if person.role != "guest":
                    continue
                if not person.email:
                    report.skipped.append(f"{person.name}: no e-mail address")
                elif _live_request(session, person) is not None:
                    report.skipped.append(f"{person.name}: already has a live link")
                else:
                    targets.append(person.id)
            if not targets and not report.skipped:
                raise NotFoundError(f"episode {slug} has no guests to ask")
    if not targets:
        return report
    with open_transport(workspace) as transport:
        for person_id in targets:
            try:
                report.sent.append(_send_request(workspace, key, transport, person_id))
            except MailError as exc:
                report.failed.append(str(exc))
    return report


def _send_request(
    workspace: Workspace, key: str, transport: Transport, person_id: int
) -> SentRequest:
    """One guest's new link and mail, committed only once the mail was accepted."""
    settings = workspace.settings
    with session_scope(workspace) as session:
        person = session.get_one(Person, person_id)
        episode = session.get_one(Episode, person.episode_id)
        assert person.email is not None
        try:
            recipient = Address(display_name=person.name, addr_spec=person.email)
        except (ValueError, IndexError, HeaderParseError):
            raise MailError(f"{person.name}: unusable address {person.email!r}") from None
        moment = now()
        for old in _live_requests(session, person):
            old.revoked_at = moment
        request = ReviewRequest(
            episode_id=episode.id,
            person_id=person.id,
            nonce=secrets.token_urlsafe(24),
            state="not_sent",
            expires_at=moment + dt.timedelta(days=settings.review.link_days),
        )
        session.add(request)
        session.flush()
        link = review_url(workspace, make_review_token(key, request))
        subject, text = review_mail_text(workspace, episode, person.name, link, request.expires_at)
        message = build_message(
            sender=settings.newsletter.from_address,
            to=recipient,
            subject=subject,
            text=text,
            reply_to=settings.show.owner_email or None,
            headers={"Auto-Submitted": "auto-generated"},
        )
        result = transport.send(message)
        if not result.ok:
            raise MailError(
                f"the review mail to {person.email} was not accepted: "
                f"{result.code or ''} {result.detail}".replace("  ", " ")
            )
        request.sent_at = now()
        request.state = "sent"
        return SentRequest(person.name, person.email, request.expires_at)


def _live_requests(session: Session, person: Person) -> list[ReviewRequest]:
    return list(
        session.scalars(
            select(ReviewRequest).where(
                ReviewRequest.person_id == person.id,
                ReviewRequest.revoked_at.is_(None),
                ReviewRequest.expires_at > now(),
            )
        )
    )


def _live_request(session: Session, person: Person) -> ReviewRequest | None:
    live = _live_requests(session, person)
    return live[-1] if live else None


def revoke(session: Session, slug: str, email: str) -> int:
    """Invalidate every live link of that guest; returns how many were revoked."""
    episode = get_episode(session, slug)
    person = person_by_email(episode, email)
    live = _live_requests(session, person)
    for request in live:
        request.revoked_at = now()
    return len(live)
