"""Guest edits: a submission becomes a new transcript version, merged or held as a conflict.

`submit_review` turns a guest's edits into a new version (parent = the version it was applied to,
author = the guest's address, a readable diff), keeping word timings where words are unchanged and
interpolating the rest (`retime_words`).

A submission based on an older version than the latest is merged when it touches only segments
nobody changed since; edits of segments someone else changed meanwhile are never dropped: they are
stored as a "conflict" decision (shown to staff by `review diff`) and shown back to the guest.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from outreach.errors import ConcurrentUpdateError, ValidationError
from outreach.models import Episode, Person, ReviewDecision, ReviewRequest, Transcript
from outreach.podcast import transcripts
from outreach.review.rules import can_edit, is_single_track, now, same_name, speaker_choices
from outreach.timeutil import clock
from outreach.transcription import Word
from outreach.workspace import Workspace

# Words a guest typed are certain.
EDITED_PROBABILITY = 1.0
# C0 and C1 controls (C1 holds CSI, \x9b, a one-byte escape for some terminals) and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


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
    session: Session,
    workspace: Workspace,
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
    text_edits, speaker_edits = _requested_edits(
        workspace, episode, person, _by_id(base.segments), texts, speakers or {}
    )
    result = SubmitResult(proposed=dict(text_edits))
    new_segments, result.conflicts = _merge_edits(base, head, text_edits, speaker_edits)
    # A comment keeps its lines (tab and newline) but no other control character.
    comment = _CONTROL.sub("", comment.replace("\r\n", "\n")).strip()
    if result.conflicts:
        _record_conflicts(session, request, base, head, result.conflicts, comment)
        comment = ""  # kept in the conflict record
    if new_segments != head.segments:
        result.version = _save_version(session, request, episode, person, base, head, new_segments)
        result.merged = head.id != base.id
        _record(session, request, "changes", base, comment, transcript=result.version)
        request.state = "changes_suggested"
    elif comment:
        _record(session, request, "comment", base, comment)
    if approve and not result.conflicts:
        _record(session, request, "approve", result.version or head)
        request.state = "approved"
        result.approved = True
    elif result.conflicts:
        request.state = "changes_suggested"
    if request.opened_at is None:
        request.opened_at = now()
    session.flush()
    return result


def _merge_edits(
    base: Transcript,
    head: Transcript,
    text_edits: dict[int, str],
    speaker_edits: dict[int, str | None],
) -> tuple[list[dict[str, Any]], list[Conflict]]:
    """The head's segments with the edits applied, and the edits that could not be: segments
    someone else changed since `base` (or that no longer exist)."""
    base_segments, head_segments = _by_id(base.segments), _by_id(head.segments)
    new_segments = [dict(s) for s in head.segments]
    new_by_id = _by_id(new_segments)
    conflicts: list[Conflict] = []
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
            conflicts.append(
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
    return new_segments, conflicts


def _record_conflicts(
    session: Session,
    request: ReviewRequest,
    base: Transcript,
    head: Transcript,
    conflicts: list[Conflict],
    comment: str,
) -> None:
    """Keep edits that could not be merged (and the comment sent with them) for staff."""
    payload = {
        "base_version": base.version,
        "head_version": head.version,
        "segments": [c.__dict__ for c in conflicts],
        "comment": comment,
    }
    _record(session, request, "conflict", base, json.dumps(payload, ensure_ascii=False))


def _save_version(
    session: Session,
    request: ReviewRequest,
    episode: Episode,
    person: Person,
    base: Transcript,
    head: Transcript,
    new_segments: list[dict[str, Any]],
) -> Transcript:
    """The merged segments as the next version after `head`."""
    version = transcripts.create_version(
        session,
        episode,
        new_segments,  # type: ignore[arg-type]
        author=person.email or person.name,
        parent=head,
        diff=describe_changes(head.segments, new_segments),
    )
    if version.version != head.version + 1:
        # Another save landed after we read `head`: ours would hide its changes. The caller
        # rolls back and submits again on top of it (merging or reporting conflicts).
        raise ConcurrentUpdateError(f"{episode.slug}: a newer version was saved meanwhile")
    return version


def _record(
    session: Session,
    request: ReviewRequest,
    decision: str,
    base: Transcript,
    comment: str | None = None,
    *,
    transcript: Transcript | None = None,
) -> None:
    session.add(
        ReviewDecision(
            review_request_id=request.id,
            transcript_id=transcript.id if transcript else None,
            base_transcript_id=base.id,
            decision=decision,
            comment=comment or None,
        )
    )
