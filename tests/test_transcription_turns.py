"""Merging per-speaker tracks into turns in spoken order (`transcription.turns`)."""

from __future__ import annotations

from outreach.transcription import Segment, Word
from outreach.transcription.formats import render_all
from outreach.transcription.turns import merge_turns


def _segment(speaker: str, *words: tuple[float, float, str]) -> Segment:
    timed: list[Word] = [
        {"start": start, "end": end, "word": word, "probability": 0.9} for start, end, word in words
    ]
    return {
        "id": 0,
        "start": timed[0]["start"],
        "end": timed[-1]["end"],
        "speaker": speaker,
        "text": " ".join(w["word"] for w in timed),
        "words": timed,
    }


def test_the_recording_of_issue_15() -> None:
    """The host's segment 0.18-19.73 s swallowed his question at 13.35 s, overlapping the
    guest's answer at 6.86-12.24 s; her reply at 20.46 s then printed without a name."""
    host = _segment(
        "Jonatan",
        (0.18, 0.6, "Hej"), (0.6, 1.4, "Karin."),
        (13.35, 13.9, "Hur"), (13.9, 14.4, "började"), (14.4, 19.73, "det?"),
    )  # fmt: skip
    guest = _segment("Karin", (6.86, 7.5, "Hej"), (7.5, 8.2, "och"), (8.2, 12.24, "tack."))
    reply = _segment("Karin", (20.46, 21.0, "Med"), (21.0, 22.3, "lyssnande."))
    merged = merge_turns([host, guest, reply])
    assert [(s["speaker"], s["text"]) for s in merged] == [
        ("Jonatan", "Hej Karin."),
        ("Karin", "Hej och tack."),
        ("Jonatan", "Hur började det?"),
        ("Karin", "Med lyssnande."),
    ]
    assert [s["id"] for s in merged] == [0, 1, 2, 3]
    assert (merged[2]["start"], merged[2]["end"]) == (13.35, 19.73)
    text = render_all(merged, title="t")["txt"]
    assert text.split("\n\n")[-1].startswith("Karin: Med")


def test_talking_at_once_never_overlaps_and_keeps_every_word() -> None:
    """36-38 s and 47-52 s of one speaker became one segment printed before the other's
    38-47 s; a backchannel inside a long answer splits the answer around it."""
    host = _segment("A", (36.2, 37.0, "Ja,"), (37.0, 38.4, "precis."), (47.0, 52.1, "Okej."))
    guest = _segment(
        "B", (38.0, 40.0, "Vi"), (40.0, 43.0, "gjorde"), (43.0, 47.2, "så."),
    )  # fmt: skip
    backchannel = _segment("A", (41.0, 41.5, "Mm."))
    merged = merge_turns([host, guest, backchannel])
    assert [(s["speaker"], s["text"]) for s in merged] == [
        ("A", "Ja, precis."),
        ("B", "Vi gjorde"),
        ("A", "Mm."),
        ("B", "så."),
        ("A", "Okej."),
    ]
    for before, after in zip(merged, merged[1:], strict=False):
        assert before["start"] <= before["end"] <= after["start"]
        for word in before["words"]:
            assert before["start"] <= word["start"] <= word["end"] <= before["end"]
    assert merged[0]["end"] == 38.0  # ended where the other voice began


def test_one_speaker_and_edited_text_are_left_alone() -> None:
    alone = _segment("A", (0.0, 1.0, "En"), (5.0, 6.0, "mening."))
    assert [s["text"] for s in merge_turns([alone])] == ["En mening."]
    edited = {**_segment("A", (0.0, 1.0, "Fel"), (9.0, 10.0, "ord.")), "text": "Rätt ord."}
    other = _segment("B", (4.0, 5.0, "Ja."))
    assert [s["text"] for s in merge_turns([edited, other])] == ["Rätt ord.", "Ja."]
