"""Export formats, validated by independent parsers (webvtt-py, srt, jsonschema, html.parser)."""

from __future__ import annotations

import html as htmllib
import html.parser
import io
import json

import jsonschema
import pytest
import srt
import webvtt

from outreach.transcription import Segment, Word, formats

XSS = '<script>alert("x")</script> & <img src=x onerror=alert(1)> --> slut'

# Podcasting 2.0 transcript JSON (podcastindex-org/podcast-namespace, transcripts.md).
PODCAST_JSON_SCHEMA = {
    "type": "object",
    "required": ["version", "segments"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": "1.0.0"},
        "segments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["startTime", "endTime", "body"],
                "additionalProperties": False,
                "properties": {
                    "speaker": {"type": "string", "minLength": 1},
                    "startTime": {"type": "number", "minimum": 0},
                    "endTime": {"type": "number", "minimum": 0},
                    "body": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}


def segment(
    index: int, start: float, text: str, speaker: str | None = None, step: float = 0.4
) -> Segment:
    words: list[Word] = []
    t = start
    for token in text.split():
        words.append(
            {
                "start": round(t, 3),
                "end": round(t + step * 0.8, 3),
                "word": token,
                "probability": 0.9,
            }
        )
        t += step
    return {
        "id": index,
        "start": words[0]["start"],
        "end": words[-1]["end"],
        "speaker": speaker,
        "text": text,
        "words": words,
    }


LONG = (
    "Välkommen till Digitalsamtal, podden om artificiell intelligens i kommuner och "
    "civilsamhälle, där vi i dag pratar med Vinnova och AI Sweden om Kraftsamling och om "
    "hur man börjar i liten skala med ett tydligt problem och bra data."
)


@pytest.fixture
def dialogue() -> list[Segment]:
    return [
        segment(0, 0.5, LONG, "Anna"),
        segment(1, 17.0, "Tack, Anna. Det låter bra.", "Bo"),
        segment(2, 20.0, "Ja, verkligen.", "Bo"),
        segment(3, 22.0, "Vad säger kommunerna?", "Anna"),
        segment(4, 24.5, XSS, 'Eve "<b>" & co'),
    ]


def test_vtt_parses_with_voices_short_lines_and_round_trips(dialogue: list[Segment]) -> None:
    text = formats.to_vtt(dialogue)
    captions = webvtt.from_string(text).captions
    assert len(captions) > len(dialogue)  # the long segment is cut into several cues
    for caption in captions:
        assert caption.start_in_seconds <= caption.end_in_seconds
        # Displayed length: entities (&lt;) count as the one character they show.
        assert all(len(htmllib.unescape(line)) <= 65 for line in caption.text.split("\n"))
        assert len(caption.text.split("\n")) <= 2
    assert [c.voice for c in captions[:2]] == ["Anna", "Anna"]
    assert {c.voice for c in captions} >= {"Anna", "Bo"}
    assert webvtt.from_string(text).captions[0].start == "00:00:00.500"
    # Our reader gets back exactly the segments' words, speakers and times.
    back = formats.read_vtt(text)
    assert " ".join(s["text"] for s in back if s["speaker"] == "Anna").startswith("Välkommen")
    assert " ".join(s["text"] for s in back) == " ".join(s["text"] for s in dialogue)
    assert back[0]["start"] == pytest.approx(0.5) and back[-1]["end"] == pytest.approx(
        dialogue[-1]["end"]
    )
    assert back[-1]["speaker"] == 'Eve "<b>" & co'
    # Reading and writing again changes nothing.
    assert formats.to_vtt(back) == text


def test_srt_two_lines_of_32_with_name_at_speaker_change(dialogue: list[Segment]) -> None:
    text = formats.to_srt(dialogue)
    subtitles = list(srt.parse(text))
    assert len(subtitles) > len(dialogue)
    for subtitle in subtitles:
        lines = subtitle.content.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 32 for line in lines), lines
        assert subtitle.start <= subtitle.end
    names = ("Anna:", "Bo:", 'Eve "<b>" & co:')
    starts = [s.content for s in subtitles if s.content.startswith(names)]
    assert [c.split(":")[0] for c in starts] == ["Anna", "Bo", "Anna", 'Eve "<b>" & co']
    # "Bo" speaks twice in a row: one name only.
    assert text.count("Bo:") == 1
    # Round trip through the srt package keeps every word and the timing.
    again = srt.compose(subtitles, reindex=False)
    assert list(srt.parse(again)) == subtitles
    spoken = " ".join(s.content.replace("\n", " ") for s in subtitles)
    for name in ("Anna: ", "Bo: ", 'Eve "<b>" & co: '):
        spoken = spoken.replace(name, "")
    assert spoken == " ".join(s["text"] for s in dialogue)
    assert subtitles[0].start.total_seconds() == pytest.approx(0.5)


def test_podcast_json_validates_and_round_trips(dialogue: list[Segment]) -> None:
    text = formats.to_podcast_json(dialogue)
    document = json.loads(text)
    jsonschema.validate(document, PODCAST_JSON_SCHEMA)
    assert document["segments"][1] == {
        "speaker": "Bo",
        "startTime": 17.0,
        "endTime": dialogue[1]["end"],
        "body": "Tack, Anna. Det låter bra.",
    }
    back = formats.read_json(text)
    assert [(s["speaker"], s["text"], s["start"], s["end"]) for s in back] == [
        (s["speaker"], s["text"], s["start"], s["end"]) for s in dialogue
    ]
    assert formats.to_podcast_json(back) == text
    unlabelled = json.loads(formats.to_podcast_json([segment(0, 1.0, "Hej")]))
    jsonschema.validate(unlabelled, PODCAST_JSON_SCHEMA)
    assert "speaker" not in unlabelled["segments"][0]


def test_text_paragraphs_name_each_turn_once(dialogue: list[Segment]) -> None:
    text = formats.to_text(dialogue)
    paragraphs = text.strip().split("\n\n")
    assert [p.split(":")[0] for p in paragraphs] == ["Anna", "Bo", "Anna", 'Eve "<b>" & co']
    assert paragraphs[1] == "Bo: Tack, Anna. Det låter bra. Ja, verkligen."
    assert XSS in text  # plain text is not markup: kept as typed
    # Unlabelled speech: a long pause starts a new paragraph.
    plain = formats.to_text(
        [segment(0, 0.0, "Ett."), segment(1, 1.0, "Två."), segment(2, 9.0, "Tre.")]
    )
    assert plain == "Ett. Två.\n\nTre.\n"


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_accessible_and_escapes_everything(dialogue: list[Segment]) -> None:
    page = formats.to_html(dialogue, title="Avsnitt <1> & AI", language="sv")
    parser = _Collector()
    parser.feed(page)
    names = [tag for tag, _ in parser.tags]
    assert ("html", {"lang": "sv"}) in parser.tags
    assert "script" not in names and "img" not in names and "b" not in names
    assert names.count("cite") == 4 and names.count("p") == 4
    times = [attrs["datetime"] for tag, attrs in parser.tags if tag == "time"]
    assert times[0] == "PT0.5S" and times[1] == "PT17S"
    assert "<script>" not in page and "&lt;script&gt;" in page
    text = "".join(parser.text)
    assert XSS in text and 'Eve "<b>" & co' in text and "Avsnitt <1> & AI" in text


def test_vtt_keeps_payload_inert(dialogue: list[Segment]) -> None:
    text = formats.to_vtt(dialogue)
    assert "<script" not in text and "<img" not in text and "<b>" not in text
    assert '<v Eve "&lt;b&gt;" &amp; co>' in text
    # webvtt-py strips cue tags from `text`: the escaped payload survives because it is no tag.
    shown = " ".join(c.text.replace("\n", " ") for c in webvtt.from_string(text).captions)
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;img' in shown
    assert htmllib.unescape(shown).endswith(XSS)


def test_edited_text_without_matching_words_is_timed_across_the_segment() -> None:
    edited = segment(0, 10.0, "det här sades")
    edited["text"] = "Det här sades faktiskt av Anna Berg på Vinnova i Stockholm i går kväll"
    cues = formats.build_cues([edited], line_chars=32, max_lines=2, name_prefix=False)
    assert " ".join(" ".join(c.lines) for c in cues) == edited["text"]
    assert cues[0].start == pytest.approx(10.0) and cues[-1].end == pytest.approx(edited["end"])


def test_long_words_and_pauses_split_cues() -> None:
    url = "https://example.org/" + "a" * 70
    cues = formats.build_cues(
        [segment(0, 0.0, f"Läs mer på {url} i dag")], line_chars=32, max_lines=2, name_prefix=False
    )
    assert all(len(line) <= 32 for cue in cues for line in cue.lines)
    assert all(len(cue.lines) <= 2 for cue in cues)
    paused = segment(0, 0.0, "Ett två tre")
    paused["words"][2]["start"] += 3.0
    paused["words"][2]["end"] += 3.0
    assert len(formats.build_cues([paused], line_chars=65, max_lines=2, name_prefix=False)) == 2


def test_srt_and_vtt_of_nothing_are_valid() -> None:
    assert webvtt.from_buffer(io.StringIO(formats.to_vtt([]))).captions == []
    assert list(srt.parse(formats.to_srt([]))) == []
    jsonschema.validate(json.loads(formats.to_podcast_json([])), PODCAST_JSON_SCHEMA)


def test_overlapping_speakers_are_named_in_the_order_cues_are_shown() -> None:
    anna = segment(0, 0.0, "Vi började i fjol med ett litet projekt och sedan växte det", "Anna")
    for word in anna["words"][6:]:
        word["start"] += 4.0
        word["end"] += 4.0
    anna["end"] = anna["words"][-1]["end"]
    bo = segment(1, 3.0, "Jaha, berätta mer", "Bo")  # Bo speaks inside Anna's segment
    cues = formats.build_cues([anna, bo], line_chars=32, max_lines=2, name_prefix=True)
    shown = [" ".join(c.lines) for c in cues]
    assert shown == [
        "Anna: Vi började i fjol med ett",
        "Bo: Jaha, berätta mer",
        "Anna: litet projekt och sedan växte det",
    ]
    assert [c.start for c in cues] == sorted(c.start for c in cues)


def test_a_very_long_speaker_name_still_leaves_room_on_the_line() -> None:
    name = "Anna-Karin Lindqvist Bergström, förvaltningschef"
    text = formats.to_srt([segment(0, 0.0, "Hej och välkommen hit i dag", name)])
    lines = list(srt.parse(text))[0].content.split("\n")
    assert len(lines) <= 2 and all(len(line) <= 32 for line in lines)
    assert lines[0].startswith("Anna-Karin Lin…: Hej och")
