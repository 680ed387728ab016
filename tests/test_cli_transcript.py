"""`outreach episode transcribe` and `outreach transcript ...` with real Whisper models.

Each expensive transcription runs once, in a module-scoped workspace, and several tests read it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jiwer
import pytest
import srt
import webvtt
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from outreach.cli import cli
from outreach.db import session_scope
from outreach.models import Episode, Transcript
from outreach.podcast import episodes, transcripts
from outreach.transcription.models import BASE_MODEL_SHA256
from outreach.transcription.probe import probe_audio
from outreach.workspace import Workspace, init_workspace

from .conftest import FIXTURES, Runner
from .helpers.episodes import make_audio, make_episode
from .test_transcription_formats import PODCAST_JSON_SCHEMA

pytestmark = pytest.mark.slow

SPEECH_SECONDS = 13.64  # tests/fixtures/speech-sv.wav
LEAD, TAIL = 6.0, 8.0
# Two tracks whose turns interleave and overlap (tests/fixtures/make_audio_fixtures.py --turns).
TURNS = (FIXTURES / "audio-turns-host.flac", FIXTURES / "audio-turns-guest.flac")


def invoke(root: Path, *args: str, expect: int = 0) -> Result:
    result = CliRunner().invoke(cli, ["--workspace", str(root), *args], catch_exceptions=False)
    assert result.exit_code == expect, (result.output, result.stderr)
    return result


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One workspace, four episodes, each transcribed once."""
    root = tmp_path_factory.mktemp("studio")
    workspace = init_workspace(root / "ws")
    audio = root / "audio"
    audio.mkdir()
    make_episode(
        workspace, "english", [(FIXTURES / "speech-en.wav", None)], language="en", title="English"
    )
    make_episode(workspace, "svenska", [(FIXTURES / "speech-sv.wav", None)], title="Svenska <i>")
    padded = make_audio(FIXTURES / "speech-sv.wav", audio / "padded.wav", lead=LEAD, tail=TAIL)
    make_episode(workspace, "tystnad", [(padded, None)])
    gap = 15.0
    anna = make_audio(FIXTURES / "speech-sv.wav", audio / "anna.wav", tail=gap)
    bo = make_audio(FIXTURES / "speech-sv.wav", audio / "bo.wav", lead=gap)
    make_episode(workspace, "samtal", [(anna, "Anna"), (bo, "Bo")])
    make_episode(workspace, "turer", [(TURNS[0], "Jonatan"), (TURNS[1], "Karin")], language="en")
    outputs = {
        "english": invoke(workspace.root, "episode", "transcribe", "english", "--model", "tiny.en"),
        "svenska": invoke(workspace.root, "episode", "transcribe", "svenska"),
        "tystnad": invoke(workspace.root, "episode", "transcribe", "tystnad", "--beam-size", "1"),
        "samtal": invoke(workspace.root, "episode", "transcribe", "samtal", "--beam-size", "1"),
        "turer": invoke(
            workspace.root,
            "episode",
            "transcribe",
            "turer",
            "--model",
            "tiny.en",
            "--beam-size",
            "1",
        ),
    }
    workspace.outputs = outputs  # type: ignore[attr-defined]
    yield workspace


def segments_of(workspace: Workspace, slug: str, version: int | None = None) -> list[Any]:
    with session_scope(workspace) as session:
        episode = episodes.get_episode(session, slug)
        return list(transcripts.get_version(session, episode, version).segments)


def test_english_word_error_rate(studio: Workspace) -> None:
    reference = (FIXTURES / "speech-en.txt").read_text(encoding="utf-8")
    hypothesis = " ".join(s["text"] for s in segments_of(studio, "english"))
    error = jiwer.wer(normalise(reference), normalise(hypothesis))
    assert error <= 0.20, (error, hypothesis)
    assert "real-time factor" in studio.outputs["english"].output  # type: ignore[attr-defined]


def test_swedish_pipeline_timings_and_version_record(studio: Workspace) -> None:
    segments = segments_of(studio, "svenska")
    assert segments and all(s["speaker"] is None for s in segments)
    duration = probe_audio(FIXTURES / "speech-sv.wav").duration
    for index, segment in enumerate(segments):
        assert segment["id"] == index
        assert 0 <= segment["start"] <= segment["end"] <= duration
        assert segment["words"], segment
        assert segment["text"] == " ".join(w["word"] for w in segment["words"])
        for word in segment["words"]:
            assert segment["start"] <= word["start"] <= word["end"] <= segment["end"]
    for before, after in zip(segments, segments[1:], strict=False):
        assert before["end"] <= after["start"]
    text = normalise(" ".join(s["text"] for s in segments))
    assert "välkommen till digitalsamtal" in text and "kommuner" in text
    with session_scope(studio) as session:
        version = session.scalars(
            select(Transcript).join(Episode).where(Episode.slug == "svenska")
        ).one()
        assert (version.version, version.engine, version.model) == (1, "faster-whisper", "base")
        assert version.model_hash == BASE_MODEL_SHA256
        assert version.settings is not None
        settings = version.settings
        assert settings["language"] == "sv" and settings["vad"] is True
        assert settings["condition_on_previous_text"] is False and settings["beam_size"] == 5
        assert "Vinnova" in settings["glossary"]
        assert settings["inputs"][0]["path"].startswith("episodes/svenska/source/")
        assert set(settings["guards"]) == {
            "repeated_segments",
            "compressed_segments",
            "silent_words",
            "silent_segments",
        }


def test_swedish_draft_exports_parse_and_match_the_version(studio: Workspace) -> None:
    folder = studio.episodes_dir / "svenska" / "transcripts" / "v1"
    files = sorted(p.name for p in folder.iterdir())
    assert files == [f"svenska.{ext}" for ext in ("html", "json", "srt", "txt", "vtt")]
    segments = segments_of(studio, "svenska")
    words = " ".join(s["text"] for s in segments)
    captions = webvtt.read(str(folder / "svenska.vtt")).captions
    assert " ".join(c.text.replace("\n", " ") for c in captions) == words
    subtitles = list(srt.parse((folder / "svenska.srt").read_text(encoding="utf-8")))
    assert " ".join(s.content.replace("\n", " ") for s in subtitles) == words
    assert subtitles[-1].end.total_seconds() == pytest.approx(segments[-1]["end"], abs=0.001)
    import jsonschema

    document = json.loads((folder / "svenska.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, PODCAST_JSON_SCHEMA)
    assert [s["body"] for s in document["segments"]] == [s["text"] for s in segments]
    page = (folder / "svenska.html").read_text(encoding="utf-8")
    assert '<html lang="sv">' in page and "Svenska &lt;i&gt;" in page and "<i>" not in page
    # Review is on by default: nothing is public until a version is accepted.
    assert not (studio.episodes_dir / "svenska" / "svenska.vtt").exists()
    assert "Not published yet" in studio.outputs["svenska"].output  # type: ignore[attr-defined]


def test_no_words_in_padded_silence(studio: Workspace) -> None:
    segments = segments_of(studio, "tystnad")
    words = [w for s in segments for w in s["words"]]
    assert len(words) >= 20
    speech_end = LEAD + SPEECH_SECONDS
    for word in words:
        assert word["end"] > LEAD and word["start"] < speech_end, word


def test_multitrack_merges_by_time_with_speaker_names(studio: Workspace) -> None:
    segments = segments_of(studio, "samtal")
    speakers = [s["speaker"] for s in segments]
    assert set(speakers) == {"Anna", "Bo"}
    # Anna speaks first, then Bo after the 15-second gap: merged by time, not by track.
    first_bo = speakers.index("Bo")
    assert all(s == "Anna" for s in speakers[:first_bo]) and all(
        s == "Bo" for s in speakers[first_bo:]
    )
    assert segments[first_bo]["start"] >= 14.0
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    folder = studio.episodes_dir / "samtal" / "transcripts" / "v1"
    voices = [c.voice for c in webvtt.read(str(folder / "samtal.vtt")).captions]
    assert voices[0] == "Anna" and voices[-1] == "Bo" and None not in voices
    srt_text = (folder / "samtal.srt").read_text(encoding="utf-8")
    assert srt_text.count("Anna:") == 1 and srt_text.count("Bo:") == 1
    text = (folder / "samtal.txt").read_text(encoding="utf-8")
    assert [p.split(":")[0] for p in text.strip().split("\n\n")] == ["Anna", "Bo"]
    page = (folder / "samtal.html").read_text(encoding="utf-8")
    assert page.count("<cite>") == 2 and "<cite>Bo</cite>" in page


def _turns(speakers: list[str | None]) -> list[str | None]:
    """Consecutive repeats collapsed: the order in which the speakers take turns."""
    return [s for i, s in enumerate(speakers) if i == 0 or s != speakers[i - 1]]


def _in_order_without_overlap(spans: list[tuple[float, float]]) -> None:
    assert spans, "nothing exported"
    for (start, end), (following, _) in zip(spans, spans[1:], strict=False):
        assert start <= end <= following, spans


def test_multitrack_turns_are_in_spoken_order_in_every_export(studio: Workspace) -> None:
    """Jonatan's track holds his greeting and, 2.3 s later, his question; Karin's reply starts
    before his greeting ends. Whisper gives his track one segment 0.0-6.7 s: once sorted by
    start, his question came before her reply in JSON, TXT and HTML, and her next answer had no
    name. Every export now lists the four turns in order, each named, none overlapping."""
    expected = ["Jonatan", "Karin", "Jonatan", "Karin"]
    assert "(2 tracks × 11 s, language en)" in studio.outputs["turer"].stderr  # type: ignore[attr-defined]
    segments = segments_of(studio, "turer")
    assert _turns([s["speaker"] for s in segments]) == expected
    _in_order_without_overlap([(s["start"], s["end"]) for s in segments])
    folder = studio.episodes_dir / "turer" / "transcripts" / "v1"
    cues = webvtt.read(str(folder / "turer.vtt")).captions
    assert None not in [c.voice for c in cues]
    assert _turns([c.voice for c in cues]) == expected
    _in_order_without_overlap([(c.start_in_seconds, c.end_in_seconds) for c in cues])
    subtitles = list(srt.parse((folder / "turer.srt").read_text(encoding="utf-8")))
    _in_order_without_overlap([(s.start.total_seconds(), s.end.total_seconds()) for s in subtitles])
    named = [s.content.split(":")[0] for s in subtitles if re.match(r"^\w+:", s.content)]
    assert named == expected and re.match(r"^\w+:", subtitles[0].content)
    document = json.loads((folder / "turer.json").read_text(encoding="utf-8"))
    assert _turns([item.get("speaker") for item in document["segments"]]) == expected
    _in_order_without_overlap([(i["startTime"], i["endTime"]) for i in document["segments"]])
    paragraphs = (folder / "turer.txt").read_text(encoding="utf-8").strip().split("\n\n")
    assert [p.split(":")[0] for p in paragraphs] == expected
    page = (folder / "turer.html").read_text(encoding="utf-8")
    rows = re.findall(r'<p><cite>(\w+)</cite> <time datetime="PT([\d.]+)S">', page)
    assert [name for name, _ in rows] == expected and page.count("<p>") == 4
    assert [float(t) for _, t in rows] == sorted(float(t) for _, t in rows)
    shown = invoke(studio.root, "transcript", "show", "turer").output.splitlines()[1:]
    assert _turns([re.sub(r"^\[[\d:.]+\] (\w+):.*", r"\1", line) for line in shown]) == expected
    # What was said, in the order it was said, in every text export.
    for text in (" ".join(paragraphs).lower(), page.lower()):
        places = [text.index(word) for word in ("welcome", "thank", "build", "library")]
        assert places == sorted(places), text


def test_transcript_list_show_export(studio: Workspace, tmp_path: Path) -> None:
    listing = invoke(studio.root, "transcript", "list", "svenska").output
    assert re.search(
        r"^\s+1\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+\d+\s+\d+\s+faster-whisper base$", listing, re.M
    )
    shown = invoke(studio.root, "transcript", "show", "samtal").output
    assert "[0:00:00] Anna: Välkommen" in shown and re.search(r"\[0:00:1[4-9]\] Bo: ", shown)
    vtt = invoke(studio.root, "transcript", "export", "samtal", "--format", "vtt").output
    assert vtt.startswith("WEBVTT") and "<v Bo>" in vtt
    target = tmp_path / "ut" / "samtal.srt"
    invoke(studio.root, "transcript", "export", "samtal", "--format", "srt", "-o", str(target))
    assert list(srt.parse(target.read_text(encoding="utf-8")))
    invoke(
        studio.root,
        "transcript",
        "export",
        "samtal",
        "--version",
        "1",
        "-o",
        str(tmp_path / "alla"),
    )
    assert len(list((tmp_path / "alla").iterdir())) == 5
    assert (
        "has no transcript version 7"
        in invoke(studio.root, "transcript", "show", "samtal", "--version", "7", expect=1).stderr
    )
    assert "has no transcript yet" not in listing


# Publishing, versions and failures (small English runs through tiny.en) -------------------------


@pytest.fixture
def english(workspace: Workspace) -> str:
    make_episode(workspace, "pod", [(FIXTURES / "speech-en.wav", None)], language="en")
    return "pod"


def test_versions_append_and_publish_follows_review(
    run: Runner, workspace: Workspace, english: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = workspace.episodes_dir / "pod" / "pod.vtt"
    monkeypatch.setenv("OUTREACH_REVIEW_ENABLED", "false")
    out = run("episode", "transcribe", "pod", "--model", "tiny.en", "--beam-size", "1").output
    assert "Published exports: episodes/pod/" in out
    assert sorted(p.name for p in public.parent.glob("pod.*")) == [
        f"pod.{e}" for e in ("html", "json", "srt", "txt", "vtt")
    ]
    first = (workspace.episodes_dir / "pod" / "transcripts" / "v1" / "pod.vtt").read_text()
    assert public.read_text() == first
    run("episode", "transcribe", "pod", "--model", "tiny.en", "--beam-size", "1")
    assert (workspace.episodes_dir / "pod" / "transcripts" / "v1" / "pod.vtt").read_text() == first
    assert (workspace.episodes_dir / "pod" / "transcripts" / "v2" / "pod.vtt").is_file()
    listing = run("transcript", "list", "pod").output
    assert listing.count("tiny.en") == 2 and "[publishable]" in listing.splitlines()[-1]
    # Review switched on with nothing accepted: the public copies go.
    monkeypatch.setenv("OUTREACH_REVIEW_ENABLED", "true")
    assert "public exports removed" in run("transcript", "publish", "pod").output
    assert not list(public.parent.glob("pod.*"))
    with session_scope(workspace) as session:
        episode = episodes.get_episode(session, "pod")
        transcripts.accept_version(session, transcripts.get_version(session, episode, 1))
    assert "Published 5 files" in run("transcript", "publish", "pod").output
    assert public.read_text() == first
    # Publishing again with nothing changed rewrites nothing; a new title does.
    written = public.stat().st_mtime_ns
    run("transcript", "publish", "pod")
    assert public.stat().st_mtime_ns == written
    with session_scope(workspace) as session:
        episodes.get_episode(session, "pod").title = "Nytt namn"
    run("transcript", "publish", "pod")
    assert "Nytt namn" in (public.parent / "pod.html").read_text()
    assert "accepted, publishable" in run("transcript", "list", "pod").output


def test_interrupted_run_stores_nothing(workspace: Workspace, english: str) -> None:
    plan = transcripts.plan_transcription(workspace, "pod", model="tiny.en")

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transcripts.run_transcription(workspace, plan, interrupt)
    with session_scope(workspace) as session:
        assert session.scalar(select(func.count()).select_from(Transcript)) == 0
    assert not (workspace.episodes_dir / "pod" / "transcripts").exists() or not any(
        (workspace.episodes_dir / "pod" / "transcripts").iterdir()
    )


def test_ctrl_c_in_the_cli_aborts_cleanly(
    run: Runner, workspace: Workspace, english: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outreach.transcription import pipeline

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "apply_guards", interrupted)
    result = run("episode", "transcribe", "pod", "--model", "tiny.en", expect=130)
    assert result.stderr.rstrip().endswith("Aborted.")
    assert "no transcript yet" in run("transcript", "list", "pod").output


def error_line(result: Result) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--engine", "whisperx"],
            "unknown transcription engine 'whisperx'; choose one of: faster-whisper, openai-whisper",
        ),
        (["--model", "/finns/inte"], "model not found: /finns/inte"),
        (["--beam-size", "0"], "beam size must be at least 1"),
    ],
)
def test_bad_options_are_one_line_errors(
    run: Runner, english: str, args: list[str], message: str
) -> None:
    assert message in error_line(run("episode", "transcribe", "pod", *args, expect=1))


def test_model_errors_say_what_to_set(
    run: Runner, english: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "tom-modell"
    empty.mkdir()
    line = error_line(run("episode", "transcribe", "pod", "--model", str(empty), expect=1))
    assert "has no model.bin" in line and "set [transcription] model" in line
    checkpoint = tmp_path / "small.pt"
    checkpoint.write_bytes(b"\x80\x02")
    line = error_line(run("episode", "transcribe", "pod", "--model", str(checkpoint), expect=1))
    assert "use --engine openai-whisper" in line
    # A hub name with no way to reach the hub (forced offline, so CI never downloads).
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    line = error_line(
        run("episode", "transcribe", "pod", "--model", "KBLab/kb-whisper-base", expect=1)
    )
    assert "cannot fetch the model KBLab/kb-whisper-base" in line
    assert "set [transcription] model to its directory" in line
    monkeypatch.delenv("HF_HUB_OFFLINE")
    line = error_line(run("episode", "transcribe", "pod", "--language", "xx", expect=1))
    assert "unknown language code 'xx'; give a Whisper language code such as sv" in line


def test_audio_and_episode_errors(run: Runner, workspace: Workspace, tmp_path: Path) -> None:
    corrupt = tmp_path / "trasig.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(4000))
    make_episode(workspace, "trasig", [(corrupt, None)])
    line = error_line(run("episode", "transcribe", "trasig", expect=1))
    assert "cannot decode audio file 01-trasig.wav" in line
    make_episode(workspace, "tom", [])
    assert "has no audio" in error_line(run("episode", "transcribe", "tom", expect=1))
    assert "no episode 'saknas'" in error_line(run("episode", "transcribe", "saknas", expect=1))
    assert "no episode 'saknas'" in error_line(run("transcript", "list", "saknas", expect=1))
    assert "has no transcript yet" in run("transcript", "list", "tom").output
