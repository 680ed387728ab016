"""Guest transcript review: personal links, the review page's data, guest edits and staff decisions.

Flow: `request_reviews` mails each guest a signed link (`/granska/<token>`), bound to one
`ReviewRequest` row (guest + episode + random nonce) that expires after `[review] link_days` and can
be revoked. The guest's page shows the latest transcript version; `submit_review` turns their edits
into a new version (parent = the version it was applied to, author = the guest's address, a
readable diff), keeping word timings where words are unchanged and interpolating the rest.

A submission based on an older version than the latest is merged when it touches only segments
nobody changed since; edits of segments someone else changed meanwhile are never dropped: they are
stored as a "conflict" decision (shown to staff by `review diff`) and shown back to the guest.

Who may edit what: a guest edits the segments whose speaker is their name. In a single-track episode
the segments start unlabelled (one recording, Whisper does not know who speaks), so any guest may edit
an unlabelled segment and set its speaker; once a segment is labelled only that speaker may edit it.
`[review] allow_editing_others = true` lets every guest edit every segment.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import tokens
from outreach.errors import (
    ConcurrentUpdateError,
    MailError,
    NotFoundError,
    TokenError,
    TokenExpiredError,
    TokenRevokedError,
    ValidationError,
)
from outreach.models import Episode, Person, ReviewDecision, ReviewRequest, Transcript
from outreach.podcast import transcripts
from outreach.timeutil import clock
from outreach.transcription import Word
from outreach.urls import review_url
from outreach.workspace import Workspace

if TYPE_CHECKING:
    from outreach.mail.transport import Transport

# Words the model gave less than this probability are marked as uncertain on the review page.
LOW_PROBABILITY = 0.5
# Words a guest typed are certain.
EDITED_PROBABILITY = 1.0
# A speaker's long turn (or a whole unlabelled single-track episode) is shown as paragraphs of at
# most this many segments, each with its own edit fields.
PARAGRAPH_SEGMENTS = 6

STATE_LABELS = {
    "not_sent": "not sent",
    "sent": "sent",
    "opened": "opened",
    "changes_suggested": "changes suggested",
    "approved": "approved",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- Episodes and people ----------------------------------------------------------------------


def get_episode(session: Session, slug: str) -> Episode:
    from outreach.podcast.episodes import get_episode as find

    return find(session, slug)


def same_name(a: str | None, b: str | None) -> bool:
    return bool(a and b) and " ".join(a.split()).casefold() == " ".join(b.split()).casefold()  # type: ignore[union-attr]


def _person_by_email(episode: Episode, email: str) -> Person:
    wanted = email.strip().casefold()
    for person in episode.people:
        if person.email and person.email.strip().casefold() == wanted:
            return person
    raise NotFoundError(f"episode {episode.slug} has no guest with the address {email}")


def is_single_track(episode: Episode) -> bool:
    return len(episode.tracks) <= 1


def can_edit(
    segment: Mapping[str, Any], person: Person, *, single_track: bool, others: bool
) -> bool:
    """May `person` edit `segment`? (See the module docstring for the rule.)"""
    if others:
        return True
    speaker = segment.get("speaker")
    if not speaker or not str(speaker).strip():
        return single_track
    return same_name(str(speaker), person.name)


def speaker_choices(workspace: Workspace, episode: Episode) -> list[str]:
    """Names a guest may give a segment in a single-track episode: the episode's people, the hosts."""
    names: list[str] = []
    for name in [p.name for p in episode.people] + list(workspace.settings.show.hosts):
        if name and not any(same_name(name, known) for known in names):
            names.append(name)
    return names


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
    from babel.dates import format_date

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
    from outreach.db import session_scope
    from outreach.mail.transport import open_transport

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
            targets = [_person_by_email(episode, guest).id]
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
    from outreach.db import session_scope
    from outreach.mail.message import build_message

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
    person = _person_by_email(episode, email)
    live = _live_requests(session, person)
    for request in live:
        request.revoked_at = now()
    return len(live)


# --- Status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuestStatus:
    name: str
    email: str | None
    state: str
    link: str
    sent_at: dt.datetime | None
    opened_at: dt.datetime | None
    expires_at: dt.datetime | None
    versions: int
    conflicts: int


def _requests_of(session: Session, person: Person) -> list[ReviewRequest]:
    return list(
        session.scalars(
            select(ReviewRequest)
            .where(ReviewRequest.person_id == person.id)
            .order_by(ReviewRequest.id)
        )
    )


def _decisions_of(session: Session, requests: list[ReviewRequest]) -> list[ReviewDecision]:
    if not requests:
        return []
    return list(
        session.scalars(
            select(ReviewDecision)
            .where(ReviewDecision.review_request_id.in_([r.id for r in requests]))
            .order_by(ReviewDecision.id)
        )
    )


def status(session: Session, slug: str) -> list[GuestStatus]:
    """Each guest's review state: not sent, sent, opened, changes suggested or approved."""
    episode = get_episode(session, slug)
    rows: list[GuestStatus] = []
    for person in episode.people:
        requests = _requests_of(session, person)
        if person.role != "guest" and not requests:
            continue
        latest = requests[-1] if requests else None
        decisions = _decisions_of(session, requests)
        if latest is None:
            link = "-"
        elif latest.revoked_at is not None:
            link = "revoked"
        elif latest.expires_at <= now():
            link = "expired"
        else:
            link = "live"
        rows.append(
            GuestStatus(
                name=person.name,
                email=person.email,
                state=STATE_LABELS.get(latest.state, latest.state) if latest else "not sent",
                link=link,
                sent_at=latest.sent_at if latest else None,
                opened_at=min((r.opened_at for r in requests if r.opened_at), default=None),
                expires_at=latest.expires_at if latest else None,
                versions=sum(1 for d in decisions if d.transcript_id is not None),
                conflicts=sum(1 for d in decisions if d.decision == "conflict"),
            )
        )
    return rows


# --- Editing: word timings --------------------------------------------------------------------


def clean_text(text: str) -> str:
    """Plain text of one segment: no control characters, single spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _spread(tokens_: list[str], start: float, end: float) -> list[Word]:
    """Give new words times inside [start, end], in proportion to their length."""
    end = max(end, start)
    weights = [len(t) + 1 for t in tokens_]
    total = sum(weights)
    words: list[Word] = []
    position = start
    for token, weight in zip(tokens_, weights, strict=True):
        step = (end - start) * weight / total
        words.append(
            Word(
                start=round(position, 3),
                end=round(min(position + step, end), 3),
                word=token,
                probability=EDITED_PROBABILITY,
            )
        )
        position += step
    return words


def retime_words(segment: Mapping[str, Any], new_text: str) -> list[Word]:
    """Words for `new_text`: unchanged words keep their timings, new ones are interpolated.

    A word-level diff (difflib) against the segment's words: equal runs are copied as they are;
    a replaced run gets the time span the old words had; an inserted run gets the gap between its
    neighbours (the segment's start or end at the edges); deleted words disappear.
    """
    old: list[Word] = list(segment.get("words") or [])
    seg_start, seg_end = float(segment["start"]), float(segment["end"])
    new_tokens = new_text.split()
    matcher = difflib.SequenceMatcher(None, [w["word"] for w in old], new_tokens, autojunk=False)
    words: list[Word] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            words.extend(Word(**w) for w in old[i1:i2])
        elif tag == "replace":
            words.extend(_spread(new_tokens[j1:j2], old[i1]["start"], old[i2 - 1]["end"]))
        elif tag == "insert":
            low = old[i1 - 1]["end"] if i1 > 0 else seg_start
            high = old[i1]["start"] if i1 < len(old) else seg_end
            words.extend(_spread(new_tokens[j1:j2], low, high))
    return words


# --- Editing: submissions ---------------------------------------------------------------------


@dataclass
class Conflict:
    segment_id: int
    current_text: str
    proposed_text: str
    current_speaker: str | None = None
    proposed_speaker: str | None = None


@dataclass
class SubmitResult:
    version: Transcript | None = None
    merged: bool = False
    approved: bool = False
    conflicts: list[Conflict] = field(default_factory=list)
    proposed: dict[int, str] = field(default_factory=dict)


def _by_id(segments: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(s["id"]): s for s in segments}


def describe_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> str:
    """A readable, line-based diff of two versions' segments (stored as `Transcript.diff`)."""
    lines: list[str] = []
    before = _by_id(old)
    for segment in new:
        previous = before.get(int(segment["id"]))
        if previous is None:
            continue
        where = f"segment {segment['id']} ({clock(segment['start'], pad_minutes=True, tenths=True)}–{clock(segment['end'], pad_minutes=True, tenths=True)})"
        if previous.get("speaker") != segment.get("speaker"):
            lines.append(
                f"{where} speaker: {previous.get('speaker') or '(none)'} → "
                f"{segment.get('speaker') or '(none)'}"
            )
        if previous["text"] != segment["text"]:
            lines += [f"{where}:", f"- {previous['text']}", f"+ {segment['text']}"]
    return "\n".join(lines)


def _requested_edits(
    workspace: Workspace,
    episode: Episode,
    person: Person,
    base_segments: dict[int, dict[str, Any]],
    texts: Mapping[int, str],
    speakers: Mapping[int, str | None],
) -> tuple[dict[int, str], dict[int, str | None]]:
    """The segments whose text or speaker the submission really changes, checked against what
    the guest may do (ValidationError otherwise)."""
    single = is_single_track(episode)
    choices = speaker_choices(workspace, episode)
    text_edits: dict[int, str] = {}
    for segment_id, raw in texts.items():
        if segment_id not in base_segments:
            raise ValidationError(f"segment {segment_id} does not exist")
        text = clean_text(raw)
        if text.split() != base_segments[segment_id]["text"].split():
            text_edits[segment_id] = text
    speaker_edits: dict[int, str | None] = {}
    for segment_id, raw_speaker in speakers.items():
        if segment_id not in base_segments:
            raise ValidationError(f"segment {segment_id} does not exist")
        name = clean_text(raw_speaker or "") or None
        current_speaker = base_segments[segment_id].get("speaker")
        if name == current_speaker or same_name(name, current_speaker):
            continue
        if not single:
            raise ValidationError("speakers are set by the tracks in a multi-track episode")
        if name is not None and not any(same_name(name, c) for c in choices):
            raise ValidationError(f"unknown speaker {name!r}")
        speaker_edits[segment_id] = name
    others = workspace.settings.review.allow_editing_others
    for segment_id in set(text_edits) | set(speaker_edits):
        if not can_edit(base_segments[segment_id], person, single_track=single, others=others):
            raise ValidationError(f"segment {segment_id} is not yours to edit")
    return text_edits, speaker_edits


def submit_review(
    workspace: Workspace,
    session: Session,
    request: ReviewRequest,
    *,
    base_version: int,
    texts: Mapping[int, str],
    speakers: Mapping[int, str | None] | None = None,
    comment: str = "",
    approve: bool = False,
) -> SubmitResult:
    """Apply a guest's submission (texts and speakers per segment id, a comment, approve or not).

    Only segments that differ from the base version count as edits. Raises ValidationError for
    segments that do not exist, unknown speakers and segments the guest may not edit (the page
    never offers those, so such a form is forged).
    """
    episode = session.get_one(Episode, request.episode_id)
    person = session.get_one(Person, request.person_id)
    base = transcripts.get_version(session, episode, base_version)
    head = transcripts.get_version(session, episode)
    base_segments = _by_id(base.segments)
    head_segments = _by_id(head.segments)
    text_edits, speaker_edits = _requested_edits(
        workspace, episode, person, base_segments, texts, speakers or {}
    )

    result = SubmitResult(proposed=dict(text_edits))
    new_segments = [dict(s) for s in head.segments]
    new_by_id = _by_id(new_segments)
    for segment_id in sorted(set(text_edits) | set(speaker_edits)):
        was, current = base_segments[segment_id], head_segments.get(segment_id)
        wanted_text = text_edits.get(segment_id, was["text"])
        wanted_speaker = speaker_edits.get(segment_id, was.get("speaker"))
        if (
            current is not None
            and current["text"] == wanted_text
            and current.get("speaker") == wanted_speaker
        ):
            continue  # someone already made exactly this change
        if current is None or (
            head.id != base.id
            and (current["text"] != was["text"] or current.get("speaker") != was.get("speaker"))
        ):
            result.conflicts.append(
                Conflict(
                    segment_id=segment_id,
                    current_text=current["text"] if current else "",
                    proposed_text=wanted_text,
                    current_speaker=current.get("speaker") if current else None,
                    proposed_speaker=wanted_speaker,
                )
            )
            continue
        target = new_by_id[segment_id]
        if segment_id in text_edits:
            target["words"] = retime_words(current, text_edits[segment_id])
            target["text"] = text_edits[segment_id]
        if segment_id in speaker_edits:
            target["speaker"] = speaker_edits[segment_id]

    comment = comment.strip()
    if result.conflicts:
        payload = {
            "base_version": base.version,
            "head_version": head.version,
            "segments": [c.__dict__ for c in result.conflicts],
            "comment": comment,
        }
        session.add(
            ReviewDecision(
                review_request_id=request.id,
                base_transcript_id=base.id,
                decision="conflict",
                comment=json.dumps(payload, ensure_ascii=False),
            )
        )
        comment = ""  # kept in the conflict record
    changed = new_segments != head.segments
    if changed:
        result.version = transcripts.create_version(
            session,
            episode,
            new_segments,  # type: ignore[arg-type]
            author=person.email or person.name,
            parent=head,
            diff=describe_changes(head.segments, new_segments),
        )
        if result.version.version != head.version + 1:
            # Another save landed after we read `head`: ours would hide its changes. The caller
            # rolls back and submits again on top of it (merging or reporting conflicts).
            raise ConcurrentUpdateError(f"{episode.slug}: a newer version was saved meanwhile")
        result.merged = head.id != base.id
        session.add(
            ReviewDecision(
                review_request_id=request.id,
                transcript_id=result.version.id,
                base_transcript_id=base.id,
                decision="changes",
                comment=comment or None,
            )
        )
        request.state = "changes_suggested"
    elif comment:
        session.add(
            ReviewDecision(
                review_request_id=request.id,
                base_transcript_id=base.id,
                decision="comment",
                comment=comment,
            )
        )
    if approve and not result.conflicts:
        approved = result.version or head
        session.add(
            ReviewDecision(
                review_request_id=request.id,
                base_transcript_id=approved.id,
                decision="approve",
            )
        )
        request.state = "approved"
        result.approved = True
    elif result.conflicts:
        request.state = "changes_suggested"
    if request.opened_at is None:
        request.opened_at = now()
    session.flush()
    return result


# --- The review page's data -------------------------------------------------------------------


@dataclass
class PageSegment:
    id: int
    start: float
    end: float
    speaker: str | None
    text: str
    words: list[Word]
    editable: bool

    def is_uncertain(self, word: Word) -> bool:
        return float(word.get("probability", 1.0)) < LOW_PROBABILITY


@dataclass
class Turn:
    """Consecutive segments of one speaker: one paragraph on the page (long turns are split into
    paragraphs of at most PARAGRAPH_SEGMENTS, `continued` marks the later ones)."""

    speaker: str | None
    segments: list[PageSegment]
    continued: bool = False


@dataclass
class ReviewPage:
    episode_title: str
    guest_name: str
    expires_at: dt.datetime
    version: int
    single_track: bool
    speaker_choices: list[str]
    turns: list[Turn]
    has_audio: bool
    state: str
    editing_others: bool

    def segment_start(self, segment_id: int) -> float:
        for turn in self.turns:
            for segment in turn.segments:
                if segment.id == segment_id:
                    return segment.start
        return 0.0


def review_audio(workspace: Workspace, episode: Episode) -> str | None:
    """The audio a guest listens to: the normalised MP3, else the multitrack mix, else the one track
    (workspace-relative, or None: separate tracks without a mix are not played)."""
    from outreach.podcast.episodes import mix_path

    if episode.audio:
        return episode.audio
    mixed = mix_path(workspace, episode)
    if mixed is not None:
        return str(mixed.relative_to(workspace.root))
    if len(episode.tracks) == 1:
        return episode.tracks[0].path
    return None


def review_page(workspace: Workspace, session: Session, request: ReviewRequest) -> ReviewPage:
    episode = session.get_one(Episode, request.episode_id)
    person = session.get_one(Person, request.person_id)
    head = transcripts.get_version(session, episode)
    single = is_single_track(episode)
    others = workspace.settings.review.allow_editing_others
    turns: list[Turn] = []
    for raw in head.segments:
        segment = PageSegment(
            id=int(raw["id"]),
            start=float(raw["start"]),
            end=float(raw["end"]),
            speaker=raw.get("speaker"),
            text=raw["text"],
            words=list(raw.get("words") or []),
            editable=can_edit(raw, person, single_track=single, others=others),
        )
        same_speaker = bool(turns) and turns[-1].speaker == segment.speaker
        if same_speaker and len(turns[-1].segments) < PARAGRAPH_SEGMENTS:
            turns[-1].segments.append(segment)
        else:
            turns.append(Turn(segment.speaker, [segment], continued=same_speaker))
    audio = review_audio(workspace, episode)
    return ReviewPage(
        episode_title=episode.title,
        guest_name=person.name,
        expires_at=request.expires_at,
        version=head.version,
        single_track=single,
        speaker_choices=speaker_choices(workspace, episode),
        turns=turns,
        has_audio=audio is not None and workspace.path(audio).is_file(),
        state=request.state,
        editing_others=others,
    )


# --- Staff: diff and accept -------------------------------------------------------------------


def diff_report(session: Session, slug: str) -> str:
    """What each guest did, in order: versions with their diffs, comments, conflicts, approvals."""
    episode = get_episode(session, slug)
    versions = {t.id: t for t in transcripts.list_versions(session, episode)}
    if not versions:
        raise NotFoundError(f"episode {slug} has no transcript")
    latest = max(versions.values(), key=lambda t: t.version)
    accepted = next((t for t in versions.values() if t.accepted_at is not None), None)
    out = [
        f"{episode.slug}: latest version v{latest.version}"
        + (f", accepted v{accepted.version}" if accepted else ", none accepted")
    ]
    touched: dict[int, list[str]] = {}
    for person in episode.people:
        decisions = _decisions_of(session, _requests_of(session, person))
        if not decisions:
            continue
        out.append("")
        out.append(f"{person.name} <{person.email or '-'}>")
        for decision in decisions:
            base = versions.get(decision.base_transcript_id)
            base_label = f"v{base.version}" if base else "?"
            when = decision.created_at.strftime("%Y-%m-%d %H:%M UTC")
            if decision.decision == "changes" and decision.transcript_id in versions:
                version = versions[decision.transcript_id]
                out.append(f"  {when}  changes → v{version.version} (based on {base_label})")
                out += [f"    {line}" for line in (version.diff or "").splitlines()]
                for segment_id in _segment_ids(version.diff or ""):
                    touched.setdefault(segment_id, []).append(person.name)
                if decision.comment:
                    out.append(f"    comment: {decision.comment}")
            elif decision.decision == "conflict":
                data = json.loads(decision.comment or "{}")
                out.append(
                    f"  {when}  CONFLICT: edits on {base_label} of segments someone changed "
                    f"since (current v{data.get('head_version', '?')}), not applied:"
                )
                for item in data.get("segments", []):
                    touched.setdefault(int(item["segment_id"]), []).append(person.name)
                    out.append(f"    segment {item['segment_id']}:")
                    out.append(f"      current:  {item['current_text']}")
                    out.append(f"      proposed: {item['proposed_text']}")
                    if item.get("proposed_speaker") != item.get("current_speaker"):
                        out.append(
                            f"      speaker: {item.get('current_speaker') or '(none)'} → "
                            f"{item.get('proposed_speaker') or '(none)'}"
                        )
                if data.get("comment"):
                    out.append(f"    comment: {data['comment']}")
            elif decision.decision == "comment":
                out.append(f"  {when}  comment on {base_label}: {decision.comment}")
            elif decision.decision == "approve":
                out.append(f"  {when}  approved {base_label}")
    shared = {sid: names for sid, names in touched.items() if len(set(names)) > 1}
    if shared:
        out.append("")
        out.append("Segments edited by more than one guest (check them before accepting):")
        for segment_id, names in sorted(shared.items()):
            out.append(f"  segment {segment_id}: {', '.join(dict.fromkeys(names))}")
    if len(out) == 1:
        out.append("No guest has suggested changes, commented or approved yet.")
    return "\n".join(out)


_SEGMENT_LINE = re.compile(r"^segment (\d+) ")


def _segment_ids(diff: str) -> list[int]:
    return sorted(
        {int(m.group(1)) for line in diff.splitlines() if (m := _SEGMENT_LINE.match(line))}
    )


def accept(
    session: Session, workspace: Workspace, slug: str, version: int | None = None
) -> Transcript:
    """Make a version (default: the latest) the publishable one and publish its exports
    (`episodes/<slug>/<slug>.{vtt,srt,json,txt,html}`, read by the feed and `outreach serve`)."""
    episode = get_episode(session, slug)
    transcript = transcripts.get_version(session, episode, version)
    transcripts.accept_version(session, transcript)
    transcripts.publish_exports(workspace, session, episode)
    return transcript
