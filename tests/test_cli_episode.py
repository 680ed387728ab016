"""`outreach episode add|list|show|normalize|publish|unpublish` through the real CLI."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import struct
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import ID3
from mutagen.mp3 import MP3
from PIL import Image
from sqlalchemy import func, select

from outreach.audio.decode import ffmpeg_exe
from outreach.db import session_scope
from outreach.models import Episode, Person, Track
from outreach.podcast.episodes import slugify
from outreach.workspace import Workspace

from .conftest import FIXTURES, REPO, Runner
from .helpers.loudness import ebur128, pyloudnorm_lufs

SPEECH = FIXTURES / "audio-speech.flac"
TRACKS = [FIXTURES / "audio-track-1.flac", FIXTURES / "audio-track-2.flac"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def episode(workspace: Workspace, slug: str) -> Episode:
    with session_scope(workspace) as session:
        found = session.scalar(select(Episode).where(Episode.slug == slug))
        assert found is not None
        found.tracks, found.people  # noqa: B018 (load before the session closes)
        return found


def counts(workspace: Workspace) -> tuple[int, int, int]:
    with session_scope(workspace) as session:
        return (
            session.scalar(select(func.count()).select_from(Episode)) or 0,
            session.scalar(select(func.count()).select_from(Track)) or 0,
            session.scalar(select(func.count()).select_from(Person)) or 0,
        )


def entries(workspace: Workspace) -> list[str]:
    return sorted(p.name for p in workspace.episodes_dir.iterdir())


@pytest.fixture
def cover(tmp_path: Path) -> Path:
    path = tmp_path / "omslag.png"
    Image.new("RGB", (1400, 1400), (20, 60, 110)).save(path)
    return path


@pytest.fixture
def chapters(tmp_path: Path) -> Path:
    path = tmp_path / "kapitel.json"
    path.write_text(
        json.dumps(
            {
                "version": "1.2.0",
                "chapters": [
                    {"startTime": 0, "title": "Välkommen"},
                    {"startTime": 2.5, "title": "Samtalet", "url": "https://example.org/"},
                ],
            }
        ),
        encoding="utf-8",
    )
    return path


def test_slug_is_ascii() -> None:
    assert slugify("Möte i Umeå") == "mote-i-umea"
    assert slugify("  AI & välfärd: Ærlig talat?  ") == "ai-valfard-aerlig-talat"
    assert slugify("Ååå!!!") == "aaa"
    assert slugify("???") == "avsnitt"


def test_add_copies_audio_and_gives_a_permanent_guid(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "Möte i Umeå.flac"
    shutil.copyfile(SPEECH, source)
    before = digest(source)
    result = run("episode", "add", str(source), "--title", "Möte i Umeå", "--number", "3")
    assert "Added episode mote-i-umea" in result.output
    ep = episode(workspace, "mote-i-umea")
    assert uuid.UUID(ep.guid).version == 4
    assert ep.status == "draft" and ep.audio is None and ep.number == 3
    assert [(t.position, t.path, t.speaker) for t in ep.tracks] == [
        (1, "episodes/mote-i-umea/source/1-mote-i-umea.flac", None)
    ]
    copied = workspace.root / ep.tracks[0].path
    assert digest(copied) == before == digest(source)
    # The same title again gets its own slug and its own GUID.
    run("episode", "add", str(source), "--title", "Möte i Umeå")
    second = episode(workspace, "mote-i-umea-2")
    assert second.guid != ep.guid
    assert entries(workspace) == ["mote-i-umea", "mote-i-umea-2"]


def test_multitrack_people_and_consent(run: Runner, workspace: Workspace) -> None:
    run(
        "episode", "add", *map(str, TRACKS), "--title", "Två spår",
        "--host", "Jonatan Permert <jonatan@example.org>",
        "--guest", "Karin Ek <Karin.Ek@Umea.example.se>",
        "--guest", "Per Holm",
        "--named", "karin.ek@umea.example.se",
    )  # fmt: skip
    ep = episode(workspace, "tva-spar")
    assert [t.speaker for t in ep.tracks] == ["Jonatan Permert", "Karin Ek"]
    people = [(p.name, p.email, p.role, p.consent_named) for p in ep.people]
    assert people == [
        ("Jonatan Permert", "jonatan@example.org", "host", True),
        ("Karin Ek", "karin.ek@umea.example.se", "guest", True),
        ("Per Holm", None, "guest", False),
    ]
    run(
        "episode", "add", *map(str, TRACKS), "--title", "Egna namn",
        "--speaker", "Anna", "--speaker", "Bo",
    )  # fmt: skip
    assert [t.speaker for t in episode(workspace, "egna-namn").tracks] == ["Anna", "Bo"]
    shown = json.loads(run("episode", "show", "tva-spar", "--json").output)
    assert shown["guid"] == ep.guid
    assert [t["speaker"] for t in shown["tracks"]] == ["Jonatan Permert", "Karin Ek"]


def _wav(path: Path, *, rate: int, frames: int) -> Path:
    """A 4 KB, 16-bit mono WAV of noise whose header claims `rate` (1 Hz: 33 minutes)."""
    data = np.random.default_rng(5).integers(-3000, 3000, frames, dtype="<i2").tobytes()
    size = 2 * frames
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    path.write_bytes(header + b"data" + struct.pack("<I", size) + data)
    return path


def _long_flac(path: Path) -> Path:
    """The speech fixture with STREAMINFO claiming ten times its samples (it decodes as 5 s)."""
    data = bytearray(SPEECH.read_bytes())
    field = int.from_bytes(data[18:26], "big")  # rate, channels, depth, then 36 bits of samples
    samples = field & ((1 << 36) - 1)
    data[18:26] = ((field & ~((1 << 36) - 1)) | samples * 10).to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


def _bad_inputs(tmp_path: Path) -> list[tuple[list[str], str]]:
    empty = tmp_path / "tom.wav"
    empty.write_bytes(b"")
    wide = tmp_path / "bred.png"
    Image.new("RGB", (1600, 1400)).save(wide)
    small = tmp_path / "liten.jpg"
    Image.new("RGB", (600, 600)).save(small)
    broken = tmp_path / "trasig.json"
    broken.write_text('{"version": "1.2.0", "chapters": [{"startTime": 9}, {"startTime": 2}]}')
    late = tmp_path / "sen.json"
    late.write_text('{"version": "1.2.0", "chapters": [{"startTime": 600, "title": "Sent"}]}')
    return [
        ([str(_wav(tmp_path / "1hz.wav", rate=1, frames=2000))], "sample rate 1 Hz is below 8 kHz"),
        ([str(_long_flac(tmp_path / "lang.flac"))], "decodes to 5.0 s but its header says 49.9 s"),
        ([str(FIXTURES / "not-audio.mp3")], "not an audio file"),
        ([str(FIXTURES / "corrupt.flac")], "corrupt audio"),
        ([str(empty)], "empty"),
        ([str(SPEECH), str(FIXTURES / "corrupt.flac")], "corrupt audio"),
        ([str(SPEECH), "--cover", str(wide)], "not square"),
        ([str(SPEECH), "--cover", str(small)], "1400 to 3000"),
        ([str(SPEECH), "--cover", str(FIXTURES / "speech-sv.txt")], "not a readable"),
        ([str(SPEECH), "--chapters", str(broken)], "in order"),
        ([str(SPEECH), "--chapters", str(late)], "after the end"),
        ([*map(str, TRACKS)], "--speaker"),
        ([str(SPEECH), "--guest", "Karin <inte-en-adress>"], "invalid e-mail"),
        ([str(SPEECH), "--published", "26/4 2023"], "invalid date"),
    ]


def test_bad_input_leaves_nothing_behind(run: Runner, workspace: Workspace, tmp_path: Path) -> None:
    for args, message in _bad_inputs(tmp_path):
        result = run("episode", "add", *args, "--title", "Trasigt", expect=1)
        error = result.stderr.strip()
        assert error.startswith("Error:") and "\n" not in error, error
        assert message in error, (args, error)
        assert counts(workspace) == (0, 0, 0)
        assert entries(workspace) == []


@pytest.fixture
def normalised(run: Runner, workspace: Workspace, cover: Path, chapters: Path) -> Episode:
    run(
        "episode", "add", str(SPEECH), "--title", "Möte i Umeå", "--number", "7",
        "--season", "2", "--published", "2023-04-26", "--cover", str(cover),
        "--chapters", str(chapters), "--summary", str(FIXTURES / "speech-sv.txt"),
    )  # fmt: skip
    guid = episode(workspace, "mote-i-umea").guid
    result = run("episode", "normalize", "mote-i-umea")
    assert "Before: -23.1 LUFS" in result.output
    # A percentage per pass, also when stderr is not a terminal.
    assert re.search(r"^pass 1: measuring [1-9]\d%$", result.stderr, re.M), result.stderr
    for line in ("pass 1: measuring 100%", "pass 2: planning the limiter 100%", "encoding 100%"):
        assert line in result.stderr, result.stderr
    assert "After:  -16." in result.output
    ep = episode(workspace, "mote-i-umea")
    assert ep.guid == guid
    return ep


def test_normalize_hits_the_targets_by_an_independent_meter(
    normalised: Episode, workspace: Workspace
) -> None:
    mp3 = workspace.root / "episodes/mote-i-umea/mote-i-umea.mp3"
    assert normalised.audio == "episodes/mote-i-umea/mote-i-umea.mp3"
    reading = ebur128(mp3, dual_mono=True)
    assert reading.integrated == pytest.approx(-16.0, abs=0.5)
    assert reading.true_peak <= -1.0
    assert reading.loudness_range >= ebur128(SPEECH, dual_mono=True).loudness_range - 1.0
    # pyloudnorm measures mono as one channel: -16 dual-mono is -19 mono.
    assert pyloudnorm_lufs(mp3, 1) == pytest.approx(-19.0, abs=0.5)
    info = MP3(str(mp3)).info
    assert (info.channels, info.sample_rate) == (1, 44100)
    assert info.bitrate == pytest.approx(96000, abs=500)
    assert normalised.duration_seconds == pytest.approx(5.0, abs=0.1)
    assert normalised.byte_size == mp3.stat().st_size
    assert normalised.loudness_lufs == pytest.approx(reading.integrated, abs=0.2)
    assert normalised.true_peak_dbtp == pytest.approx(reading.true_peak, abs=0.2)
    assert normalised.loudness_range_lu is not None
    assert mp3.stat().st_mode & 0o777 == 0o644


def test_normalize_writes_id3_tags_cover_and_chapters(
    normalised: Episode, workspace: Workspace, cover: Path
) -> None:
    tags = ID3(str(workspace.root / normalised.audio))
    assert tags.version == (2, 4, 0)
    assert str(tags["TIT2"]) == "Möte i Umeå"
    assert str(tags["TALB"]) == "Digitalsamtal"
    assert str(tags["TPE1"]) == "AI Sweden"
    assert str(tags["TDRC"]) == "2023"
    assert str(tags["TLAN"]) == "swe"
    assert str(tags["TRCK"]) == "7"
    comment = tags.getall("COMM")[0]
    assert comment.lang == "swe" and "Digitalsamtal" in comment.text[0]
    picture = tags.getall("APIC")[0]
    assert picture.mime == "image/png" and picture.data == cover.read_bytes()
    chaps = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    assert [(c.start_time, str(c.sub_frames["TIT2"])) for c in chaps] == [
        (0, "Välkommen"),
        (2500, "Samtalet"),
    ]
    assert chaps[0].end_time == 2500 and chaps[1].end_time == round(
        normalised.duration_seconds * 1000
    )
    toc = tags.getall("CTOC")[0]
    assert list(toc.child_element_ids) == [c.element_id for c in chaps]
    assert (workspace.root / "episodes/mote-i-umea/cover.png").read_bytes() == cover.read_bytes()
    assert json.loads((workspace.root / "episodes/mote-i-umea/chapters.json").read_text())


def test_renormalize_is_safe_and_publish_keeps_the_guid(
    normalised: Episode, run: Runner, workspace: Workspace
) -> None:
    run("episode", "normalize", "mote-i-umea")
    folder = workspace.root / "episodes/mote-i-umea"
    assert sorted(p.name for p in folder.iterdir()) == [
        "chapters.json", "cover.png", "mote-i-umea.mp3", "source",
    ]  # fmt: skip
    result = run("episode", "publish", "mote-i-umea")
    assert "Published mote-i-umea (2023-04-26T04:00:00+00:00)" in result.output
    ep = episode(workspace, "mote-i-umea")
    assert ep.status == "published" and ep.guid == normalised.guid
    run("episode", "unpublish", "mote-i-umea")
    ep = episode(workspace, "mote-i-umea")
    assert ep.status == "draft" and ep.guid == normalised.guid
    listed = json.loads(run("episode", "list", "--json").output)
    assert [(e["slug"], e["status"], e["guid"]) for e in listed] == [
        ("mote-i-umea", "draft", normalised.guid)
    ]
    assert "mote-i-umea  7   draft" in run("episode", "list").output


def test_publish_refuses_before_normalize(run: Runner, workspace: Workspace) -> None:
    run("episode", "add", str(SPEECH), "--title", "Inte klar")
    result = run("episode", "publish", "inte-klar", expect=1)
    assert "not normalised yet" in result.stderr
    assert episode(workspace, "inte-klar").status == "draft"
    assert "no episode 'finns-inte'" in run("episode", "normalize", "finns-inte", expect=1).stderr


def test_normalize_that_cannot_hold_the_ceiling_exits_1_and_marks_nothing(
    run: Runner, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An MP3 over the ceiling after every attempt (forced here: the limiter aims 3 dB over,
    one attempt) is one line, exit 1, no file, and the episode stays un-normalised."""
    from outreach.audio import normalize

    run("episode", "add", str(SPEECH), "--title", "Het")
    monkeypatch.setattr(normalize, "ENCODER_HEADROOM_DB", -3.0)
    monkeypatch.setattr(normalize, "MAX_ATTEMPTS", 1)
    monkeypatch.setenv("OUTREACH_AUDIO_TARGET_LUFS", "-12")
    result = run("episode", "normalize", "het", expect=1)
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error:") and "is over the -1 dBTP ceiling" in error, result.stderr
    assert "nothing was written" in error
    found = episode(workspace, "het")
    assert found.audio is None and found.loudness_lufs is None and found.audio_sha256 is None
    assert not (workspace.root / "episodes/het/het.mp3").exists()
    assert "not normalised yet" in run("episode", "publish", "het", expect=1).stderr


def _refused(run: Runner, workspace: Workspace, message: str, fix: str) -> None:
    result = run("episode", "publish", "mote-i-umea", expect=1)
    error = result.stderr.strip()
    assert error.startswith("Error:") and "\n" not in error, error
    assert message in error and fix in error, error
    assert episode(workspace, "mote-i-umea").status == "draft"


def test_publish_gate_refuses_what_listeners_should_not_get(
    normalised: Episode, run: Runner, workspace: Workspace
) -> None:
    """The gate re-measures nothing heavy: stored figures, the MP3's size and hash, exports."""
    normalize = "run 'outreach episode normalize mote-i-umea'"
    assert "OK: may be published" in run("episode", "check", "mote-i-umea").output
    # Stored measurements that break the targets (as the +17 dBTP episode of issue 15 had).
    with session_scope(workspace) as session:
        found = session.scalar(select(Episode).where(Episode.slug == "mote-i-umea"))
        assert found is not None
        found.true_peak_dbtp = 17.03
    _refused(run, workspace, "stored true peak +17.0 dBTP is over the -1 dBTP ceiling", normalize)
    run("episode", "normalize", "mote-i-umea")
    # The MP3 changed since it was measured (a re-encode, an edit, a copy from elsewhere).
    mp3 = workspace.root / "episodes/mote-i-umea/mote-i-umea.mp3"
    original = mp3.read_bytes()
    mp3.write_bytes(original[:-1000])
    _refused(run, workspace, "mote-i-umea.mp3 changed since it was measured", normalize)
    mp3.unlink()
    _refused(run, workspace, "not normalised yet", normalize)
    mp3.write_bytes(original)
    # Public transcript exports that no publishable version made are stale.
    stray = workspace.root / "episodes/mote-i-umea/mote-i-umea.vtt"
    stray.write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nOgranskad text\n")
    _refused(run, workspace, "transcript exports are stale", "outreach transcript publish")
    run("transcript", "publish", "mote-i-umea")
    assert not stray.exists()
    run("episode", "publish", "mote-i-umea")
    assert episode(workspace, "mote-i-umea").status == "published"


def test_check_measures_the_mp3_itself(
    normalised: Episode, run: Runner, workspace: Workspace
) -> None:
    """`episode check` decodes the file: an MP3 made 6 dB louder in place (size and stored
    figures aside) fails on its own measurement."""
    mp3 = workspace.root / "episodes/mote-i-umea/mote-i-umea.mp3"
    louder = mp3.with_name("louder.mp3")
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(mp3), "-af", "volume=6dB"]
        + ["-c:a", "libmp3lame", "-b:a", "96k", str(louder)],
        check=True,
    )
    louder.replace(mp3)
    result = run("episode", "check", "mote-i-umea", expect=1)
    error = result.stderr.strip()
    assert "\n" not in error
    assert "is over the -1 dBTP ceiling" in error and "from the -16 LUFS target" in error
    assert "changed since it was measured" in error
    assert "run 'outreach episode normalize mote-i-umea'" in error


@pytest.mark.slow
@pytest.mark.parametrize(
    ("files", "channels"),
    [
        (["audio-stereo-peaks.flac"], 2),
        (["audio-quiet.flac"], 1),
        (["audio-long-silence.flac"], 1),
        (["audio-track-1.flac", "audio-track-2.flac"], 1),
    ],
    ids=["stereo-peaks", "quiet", "long-silence", "two-tracks"],
)
def test_normalize_fixtures(
    run: Runner, workspace: Workspace, files: list[str], channels: int
) -> None:
    paths = [str(FIXTURES / f) for f in files]
    speakers = [a for i in range(len(files)) for a in ("--speaker", f"Röst {i + 1}")]
    run("episode", "add", *paths, "--title", "Prov", *speakers)
    run("episode", "normalize", "prov")
    mp3 = workspace.root / "episodes/prov/prov.mp3"
    reading = ebur128(mp3, dual_mono=channels == 1)
    assert reading.integrated == pytest.approx(-16.0, abs=0.5)
    assert reading.true_peak <= -1.0
    assert MP3(str(mp3)).info.channels == channels
    if len(files) == 1:
        source = ebur128(FIXTURES / files[0], dual_mono=channels == 1)
        assert reading.loudness_range >= source.loudness_range - 1.0
    else:
        # The two tracks are summed: the episode is as long as the longer track.
        assert MP3(str(mp3)).info.length == pytest.approx(6.8, abs=0.1)


def test_mono_target_when_not_dual_mono(
    run: Runner, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_AUDIO_MONO_AS_DUAL_MONO", "false")
    monkeypatch.setenv("OUTREACH_AUDIO_MONO_TARGET_LUFS", "-20")
    monkeypatch.setenv("OUTREACH_AUDIO_BITRATE_MONO", "64")
    run("episode", "add", str(SPEECH), "--title", "Mono")
    run("episode", "normalize", "mono")
    mp3 = workspace.root / "episodes/mono/mono.mp3"
    assert pyloudnorm_lufs(mp3, 1) == pytest.approx(-20.0, abs=0.5)
    assert MP3(str(mp3)).info.bitrate == pytest.approx(64000, abs=500)


def test_sample_episode_is_committed() -> None:
    samples = REPO / "episodes" / "samples"
    for name in ("jonatan.opus", "karin.opus", "mix.opus", "cover.jpg", "chapters.json"):
        assert (samples / name).stat().st_size < 400_000, name
    with Image.open(samples / "cover.jpg") as image:
        assert image.size == (1400, 1400)
    assert (REPO / "episodes" / "cover.png").is_file()


def test_readme_multitrack_example_labels_each_track_with_its_speaker(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    """The README's `episode add` example, run as written (real audio in place of its files; the
    cover, chapters and summary left out): the host's track is the host's, the guest's the guest's."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Episodes and audio", 1)[1]
    command = section.split("```sh\n", 1)[1].split("\noutreach episode normalize", 1)[0]
    args = shlex.split(command.replace("\\\n", " "))
    assert args[:3] == ["outreach", "episode", "add"]
    sources = {"jonatan.wav": "audio-track-1.flac", "karin.wav": "audio-track-2.flac"}
    sources["mix.wav"] = "audio-speech.flac"
    for name, fixture in sources.items():
        shutil.copyfile(FIXTURES / fixture, tmp_path / name)
    kept: list[str] = []
    skip = False
    for arg in args[1:]:
        if skip:
            skip = False
        elif arg in ("--cover", "--chapters", "--summary"):
            skip = True
        else:
            kept.append(str(tmp_path / arg) if arg in sources else arg)
    run(*kept)
    with session_scope(workspace) as s:
        tracks = s.scalars(select(Track).order_by(Track.position)).all()
        assert [t.speaker for t in tracks] == ["Jonatan Lind", "Karin Ek"]
