"""Transcript exports: WebVTT, SRT, Podcasting 2.0 JSON, plain text and accessible HTML.

All writers take the shared segment list. Caption cues are cut at word boundaries from the word
timings (WebVTT: ≤ 2 lines of ≤ 65 characters; SRT: ≤ 2 lines of ≤ 32 characters, with `Namn:`
when the speaker changes). Segment text may come from a guest's edit, so every markup format
escapes it: HTML fully, WebVTT's `&`, `<` and `>`. `read_vtt` and `read_json` read the two
speaker-carrying formats back into segments.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from outreach.timeutil import clock
from outreach.transcription import Segment, Word

EXPORT_FORMATS = ("vtt", "srt", "json", "txt", "html")
# Bump when any writer's output changes, so published exports are rewritten.
FORMATS_REVISION = 2
VTT_LINE_CHARS = 65
SRT_LINE_CHARS = 32
CUE_LINES = 2
# A pause this long between two words ends a cue (captions should not hang over silence).
CUE_BREAK_PAUSE = 1.5
# A pause this long starts a new paragraph in the text and HTML exports.
PARAGRAPH_PAUSE = 2.0
PARAGRAPH_WORDS = 150
MIN_CUE_SECONDS = 0.05
CLAUSE_ENDS = (".", "!", "?", ",", ";", ":", "…")
PODCAST_JSON_VERSION = "1.0.0"


@dataclass
class Cue:
    start: float
    end: float
    speaker: str | None
    lines: list[str]


def in_time_order(segments: Sequence[Segment]) -> list[Segment]:
    """Segments by start (a stable sort: versions stored before turns were merged in spoken
    order, or edited, still export in the order they were said)."""
    return sorted(segments, key=lambda s: (s["start"], s["end"]))


def _clean(text: str) -> str:
    """One line of text: newlines, tabs and runs of spaces become single spaces."""
    return " ".join(text.split())


def _timed_words(segment: Segment) -> list[Word]:
    """The segment's words; without word timings, its text spread evenly over its time."""
    words = [w for w in segment.get("words") or [] if _clean(w["word"])]
    text_tokens = _clean(segment["text"]).split()
    if words and [_clean(w["word"]) for w in words] == text_tokens:
        return [{**w, "word": _clean(w["word"])} for w in words]
    # Edited text no longer matches the words: time the new tokens across the segment.
    if not text_tokens:
        return []
    start, end = segment["start"], max(segment["end"], segment["start"])
    step = (end - start) / len(text_tokens)
    return [
        {
            "start": start + i * step,
            "end": start + (i + 1) * step,
            "word": token,
            "probability": 1.0,
        }
        for i, token in enumerate(text_tokens)
    ]


def wrap(tokens: Sequence[str], width: int) -> list[str]:
    """Greedy line filling; a token longer than a line is split across lines."""
    lines: list[str] = []
    current = ""
    for token in tokens:
        while len(token) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(token[:width])
            token = token[width:]
        if not token:
            continue
        if not current:
            current = token
        elif len(current) + 1 + len(token) <= width:
            current += " " + token
        else:
            lines.append(current)
            current = token
    if current:
        lines.append(current)
    return lines


def build_cues(
    segments: Sequence[Segment], *, line_chars: int, max_lines: int, name_prefix: bool
) -> list[Cue]:
    """Caption cues of ≤ `max_lines` lines of ≤ `line_chars`, in the order words were spoken.

    A cue holds words of one segment only. When two speakers' segments overlap in time (a
    version stored before tracks were merged into turns), their words interleave by time, so
    `Namn:` marks every real change of speaker in the order a viewer sees the cues.
    """
    stream: list[tuple[float, int, str | None, Word]] = []
    for index, segment in enumerate(segments):
        speaker = segment.get("speaker") or None
        for word in _split_long_words(_timed_words(segment), line_chars):
            stream.append((word["start"], index, speaker, word))
    stream.sort(key=lambda item: (item[0], item[1]))

    cues: list[Cue] = []
    timed: list[Word] = []
    prefix: list[str] = []
    group: int | None = None
    group_speaker: str | None = None
    last_speaker: str | None = None

    def emit(words: list[Word]) -> None:
        nonlocal prefix, last_speaker
        cues.append(_cue(words, prefix, group_speaker, line_chars))
        prefix, last_speaker = [], group_speaker

    for _, index, speaker, word in stream:
        if timed and index != group:
            emit(timed)
            timed = []
        if not timed and index != group:
            group, group_speaker = index, speaker
            if name_prefix and speaker and speaker != last_speaker:
                prefix = [_name_prefix(speaker, line_chars)]
        pause = word["start"] - timed[-1]["end"] if timed else 0.0
        fits = len(wrap([*prefix, *_texts(timed), word["word"]], line_chars)) <= max_lines
        if timed and pause >= CUE_BREAK_PAUSE:
            emit(timed)
            timed = []
        elif timed and not fits:
            cut = _clause_end(timed)
            emit(timed[:cut])
            timed = timed[cut:]
        timed.append(word)
    if timed:
        emit(timed)
    cues.sort(key=lambda c: (c.start, c.end))
    _separate(cues)
    return cues


def _name_prefix(speaker: str, width: int) -> str:
    """`Namn:`, shortened with … when a name alone would not leave room on its line."""
    name = _clean(speaker)
    limit = max(4, width // 2)
    if len(name) + 1 > limit:
        name = name[: limit - 2].rstrip() + "…"
    return f"{name}:"


def _split_long_words(words: list[Word], width: int) -> list[Word]:
    """Words longer than a line (URLs, say) become line-sized pieces sharing the word's time."""
    result: list[Word] = []
    for word in words:
        text = word["word"]
        if len(text) <= width:
            result.append(word)
            continue
        pieces = [text[i : i + width] for i in range(0, len(text), width)]
        step = (word["end"] - word["start"]) / len(pieces)
        for i, piece in enumerate(pieces):
            start = word["start"] + i * step
            result.append({**word, "word": piece, "start": start, "end": start + step})
    return result


def _texts(words: Sequence[Word]) -> list[str]:
    return [w["word"] for w in words]


def _clause_end(timed: Sequence[Word]) -> int:
    """Where to end a full cue: after the last clause end in its second half, else at its end."""
    for index in range(len(timed) - 1, len(timed) // 2 - 1, -1):
        if timed[index]["word"].endswith(CLAUSE_ENDS) and index + 1 < len(timed):
            return index + 1
    return len(timed)


def _cue(timed: list[Word], prefix: list[str], speaker: str | None, width: int) -> Cue:
    start = max(0.0, timed[0]["start"])
    end = max(timed[-1]["end"], start + MIN_CUE_SECONDS)
    return Cue(start, end, speaker, wrap([*prefix, *_texts(timed)], width))


def _separate(cues: list[Cue]) -> None:
    """Cues never overlap: one shown at a time, a cue ends where the next begins (when two
    people talk at once, the words already interleave by time)."""
    for before, cue in zip(cues, cues[1:], strict=False):
        if before.end > cue.start:
            before.end = max(before.start, cue.start)


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(segments: Sequence[Segment]) -> str:
    """WebVTT with `<v Name>` voice spans; cue text and names escaped."""
    out = ["WEBVTT", ""]
    cues = build_cues(segments, line_chars=VTT_LINE_CHARS, max_lines=CUE_LINES, name_prefix=False)
    for number, cue in enumerate(cues, 1):
        text = "\n".join(_vtt_escape(line) for line in cue.lines)
        if cue.speaker:
            text = f"<v {_vtt_escape(_clean(cue.speaker))}>{text}</v>"
        out += [
            str(number),
            f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}",
            text,
            "",
        ]
    return "\n".join(out)


def to_srt(segments: Sequence[Segment]) -> str:
    """SubRip: ≤ 2 lines of ≤ 32 characters, `Namn:` at the start of each speaker's turn."""
    out: list[str] = []
    cues = build_cues(segments, line_chars=SRT_LINE_CHARS, max_lines=CUE_LINES, name_prefix=True)
    for number, cue in enumerate(cues, 1):
        out += [
            str(number),
            f"{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}",
            *cue.lines,
            "",
        ]
    return "\n".join(out)


def to_podcast_json(segments: Sequence[Segment]) -> str:
    """Podcasting 2.0 transcript JSON (`podcast:transcript type="application/json"`)."""
    items: list[dict[str, Any]] = []
    for segment in in_time_order(segments):
        body = _clean(segment["text"])
        if not body:
            continue
        item: dict[str, Any] = {}
        if segment.get("speaker"):
            item["speaker"] = _clean(segment["speaker"] or "")
        item["startTime"] = round(segment["start"], 3)
        item["endTime"] = round(max(segment["end"], segment["start"]), 3)
        item["body"] = body
        items.append(item)
    document = {"version": PODCAST_JSON_VERSION, "segments": items}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


@dataclass
class Paragraph:
    start: float
    speaker: str | None
    first_of_turn: bool
    text: str


def paragraphs(segments: Sequence[Segment]) -> list[Paragraph]:
    """Reading paragraphs: a new one at each change of speaker, long pause or ~150 words."""
    result: list[Paragraph] = []
    previous: Segment | None = None
    words_in_paragraph = 0
    for segment in in_time_order(segments):
        text = _clean(segment["text"])
        if not text:
            continue
        speaker = segment.get("speaker") or None
        new_turn = previous is None or speaker != (previous.get("speaker") or None)
        pause = previous is not None and segment["start"] - previous["end"] >= PARAGRAPH_PAUSE
        if new_turn or pause or words_in_paragraph >= PARAGRAPH_WORDS:
            result.append(Paragraph(segment["start"], speaker, new_turn, text))
            words_in_paragraph = 0
        else:
            result[-1].text += " " + text
        words_in_paragraph += len(text.split())
        previous = segment
    return result


def to_text(segments: Sequence[Segment]) -> str:
    """Plain text: paragraphs, `Namn:` at the start of each speaker's turn."""
    blocks = []
    for paragraph in paragraphs(segments):
        if paragraph.speaker and paragraph.first_of_turn:
            blocks.append(f"{_clean(paragraph.speaker)}: {paragraph.text}")
        else:
            blocks.append(paragraph.text)
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _duration_attribute(seconds: float) -> str:
    """A valid HTML duration string (`PT1M2.5S`)."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{secs}S"


HTML_STYLE = (
    "body{font-family:system-ui,sans-serif;line-height:1.6;max-width:42rem;margin:2rem auto;"
    "padding:0 1rem;color:#1a1a1a;background:#fff}"
    "cite{font-style:normal;font-weight:700;margin-right:.4em}"
    "time{color:#555;font-variant-numeric:tabular-nums;margin-right:.4em}"
)


def to_html(segments: Sequence[Segment], *, title: str, language: str = "sv") -> str:
    """A standalone, accessible HTML page: `<cite>` speakers, `<time>` stamps; all text escaped."""
    lang = html.escape(language or "sv", quote=True)
    heading = html.escape(f"Transkription: {title}")
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{heading}</title>",
        f"<style>{HTML_STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{heading}</h1>",
    ]
    for paragraph in paragraphs(segments):
        cite = ""
        if paragraph.speaker and paragraph.first_of_turn:
            cite = f"<cite>{html.escape(_clean(paragraph.speaker))}</cite> "
        stamp = (
            f'<time datetime="{_duration_attribute(paragraph.start)}">'
            f"{clock(paragraph.start, pad_minutes=True)}</time>"
        )
        parts.append(f"<p>{cite}{stamp} {html.escape(paragraph.text)}</p>")
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def render(segments: Sequence[Segment], fmt: str, *, title: str, language: str = "sv") -> str:
    """One export format as text."""
    if fmt == "vtt":
        return to_vtt(segments)
    if fmt == "srt":
        return to_srt(segments)
    if fmt == "json":
        return to_podcast_json(segments)
    if fmt == "txt":
        return to_text(segments)
    if fmt == "html":
        return to_html(segments, title=title, language=language)
    raise ValueError(f"unknown transcript format {fmt!r}")


def render_all(segments: Sequence[Segment], *, title: str, language: str = "sv") -> dict[str, str]:
    return {fmt: render(segments, fmt, title=title, language=language) for fmt in EXPORT_FORMATS}


# Readers ---------------------------------------------------------------------------------------

_VTT_TIMING = re.compile(
    r"^\s*((?:\d+:)?\d{2}:\d{2}\.\d{3})\s+-->\s+((?:\d+:)?\d{2}:\d{2}\.\d{3})(?:\s.*)?$"
)
_VOICE = re.compile(r"^<v(?:\.[^\s>]*)?\s+([^>]*)>")
_TAG = re.compile(r"</?[^>]*>")


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    value = 0.0
    for part in parts:
        value = value * 60 + float(part)
    return value


def read_vtt(text: str) -> list[Segment]:
    """WebVTT cues back into segments (one per cue; `<v Name>` becomes the speaker)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise ValueError("not a WebVTT file (no WEBVTT header)")
    segments: list[Segment] = []
    index = 0
    while index < len(lines):
        match = _VTT_TIMING.match(lines[index])
        index += 1
        if match is None:
            continue
        payload: list[str] = []
        while index < len(lines) and lines[index].strip():
            payload.append(lines[index])
            index += 1
        body = "\n".join(payload)
        speaker = None
        voice = _VOICE.match(body)
        if voice is not None:
            speaker = html.unescape(voice.group(1).strip()) or None
        plain = html.unescape(_TAG.sub("", body))
        segments.append(
            {
                "id": len(segments),
                "start": _seconds(match.group(1)),
                "end": _seconds(match.group(2)),
                "speaker": speaker,
                "text": _clean(plain),
                "words": [],
            }
        )
    return segments


def read_json(text: str) -> list[Segment]:
    """A Podcasting 2.0 JSON transcript back into segments."""
    document = json.loads(text)
    if not isinstance(document, dict) or not isinstance(document.get("segments"), list):
        raise ValueError("not a Podcasting 2.0 transcript (no segments list)")
    segments: list[Segment] = []
    for item in document["segments"]:
        segments.append(
            {
                "id": len(segments),
                "start": float(item["startTime"]),
                "end": float(item["endTime"]),
                "speaker": item.get("speaker") or None,
                "text": _clean(str(item["body"])),
                "words": [],
            }
        )
    return segments
