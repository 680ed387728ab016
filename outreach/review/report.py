"""What staff see and decide: each guest's review state, what they did (`diff_report`), and accept."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import NotFoundError
from outreach.models import Person, ReviewDecision, ReviewRequest, Transcript
from outreach.podcast import transcripts
from outreach.review.rules import get_episode, now
from outreach.workspace import Workspace

STATE_LABELS = {
    "not_sent": "not sent",
    "sent": "sent",
    "opened": "opened",
    "changes_suggested": "changes suggested",
    "approved": "approved",
}


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
        out += ["", f"{person.name} <{person.email or '-'}>"]
        for decision in decisions:
            out += _decision_lines(decision, versions, touched, person.name)
    out += _shared_segments(touched)
    if len(out) == 1:
        out.append("No guest has suggested changes, commented or approved yet.")
    return "\n".join(out)


def _decision_lines(
    decision: ReviewDecision,
    versions: dict[int, Transcript],
    touched: dict[int, list[str]],
    name: str,
) -> list[str]:
    """One guest decision as report lines; notes in `touched` which segments it edited."""
    base = versions.get(decision.base_transcript_id)
    base_label = f"v{base.version}" if base else "?"
    when = decision.created_at.strftime("%Y-%m-%d %H:%M UTC")
    if decision.decision == "changes" and decision.transcript_id in versions:
        version = versions[decision.transcript_id]
        lines = [f"  {when}  changes → v{version.version} (based on {base_label})"]
        lines += [f"    {line}" for line in (version.diff or "").splitlines()]
        for segment_id in _segment_ids(version.diff or ""):
            touched.setdefault(segment_id, []).append(name)
        if decision.comment:
            lines.append(f"    comment: {decision.comment}")
        return lines
    if decision.decision == "conflict":
        return _conflict_lines(decision, when, base_label, touched, name)
    if decision.decision == "comment":
        return [f"  {when}  comment on {base_label}: {decision.comment}"]
    if decision.decision == "approve":
        return [f"  {when}  approved {base_label}"]
    return []


def _conflict_lines(
    decision: ReviewDecision,
    when: str,
    base_label: str,
    touched: dict[int, list[str]],
    name: str,
) -> list[str]:
    data = json.loads(decision.comment or "{}")
    lines = [
        f"  {when}  CONFLICT: edits on {base_label} of segments someone changed "
        f"since (current v{data.get('head_version', '?')}), not applied:"
    ]
    for item in data.get("segments", []):
        touched.setdefault(int(item["segment_id"]), []).append(name)
        lines.append(f"    segment {item['segment_id']}:")
        lines.append(f"      current:  {item['current_text']}")
        lines.append(f"      proposed: {item['proposed_text']}")
        if item.get("proposed_speaker") != item.get("current_speaker"):
            lines.append(
                f"      speaker: {item.get('current_speaker') or '(none)'} → "
                f"{item.get('proposed_speaker') or '(none)'}"
            )
    if data.get("comment"):
        lines.append(f"    comment: {data['comment']}")
    return lines


def _shared_segments(touched: dict[int, list[str]]) -> list[str]:
    """The warning about segments more than one guest edited (empty if none)."""
    shared = {sid: names for sid, names in touched.items() if len(set(names)) > 1}
    if not shared:
        return []
    lines = ["", "Segments edited by more than one guest (check them before accepting):"]
    for segment_id, names in sorted(shared.items()):
        lines.append(f"  segment {segment_id}: {', '.join(dict.fromkeys(names))}")
    return lines


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
    transcripts.publish_exports(session, workspace, episode)
    return transcript
