"""Encoding with ffmpeg's libmp3lame, the measurement of the MP3 as it is written, and ID3 tags.

The limited PCM is piped into ffmpeg; its tee muxer writes the MP3 file and, at the same time,
a second ffmpeg decodes the packets again, so the check of what listeners get costs no extra
pass. The tags (mutagen, ID3v2.4) carry title, show, summary, cover and chapters.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from outreach.audio.check import ebur128_filter, parse_summary
from outreach.audio.decode import ffmpeg_exe, last_error_line, read_stderr, stderr_file
from outreach.audio.limiter import Plan, limited_blocks
from outreach.audio.loudness import Measurement
from outreach.audio.programme import Programme, Progress
from outreach.errors import AudioError

# libmp3lame's encoder delay (576 + the decoder's 529 samples), which its LAME header tells
# decoders to skip.
MP3_ENCODER_DELAY_FRAMES = 1105


class Chapter(Protocol):
    """A chapter mark as the encoder needs it (`outreach.podcast.chapters.Chapter` is one); the audio
    package does not depend on the podcast's chapter format."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float | None: ...
    @property
    def title(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def toc(self) -> bool: ...


@dataclass(frozen=True)
class Tags:
    """ID3v2.4 tags written into the MP3."""

    title: str
    show: str
    author: str
    year: int | None = None
    language: str = "swe"
    summary: str | None = None
    number: int | None = None
    season: int | None = None
    cover: Path | None = None
    chapters: Sequence[Chapter] = ()


def encode_and_check(
    programme: Programme,
    plan: Plan,
    folder: Path,
    *,
    bitrate_kbps: int,
    dual_mono: bool,
    progress: Progress | None,
) -> tuple[Path, Measurement]:
    """Feed the planned (gained and limited) programme to libmp3lame; measure the MP3 as it is made.

    ffmpeg's tee muxer writes the encoded packets both to `folder/encoded.mp3` (seekable, so it
    gets its Xing/LAME header) and to a pipe into a second ffmpeg that decodes them again and
    meters them with its own `ebur128` (see `check`), so the independent check of the encoded
    file costs no extra pass and no Python time.
    """
    encoded = folder / "encoded.mp3"
    encoder_command, decoder_command = _commands(
        programme, encoded.name, bitrate_kbps, dual_mono=dual_mono
    )
    failures: list[BaseException] = []
    with stderr_file() as encoder_err, stderr_file() as decoder_err:
        encoder = subprocess.Popen(
            encoder_command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=encoder_err,
            cwd=folder,
        )
        decoder = subprocess.Popen(
            decoder_command, stdin=encoder.stdout, stdout=subprocess.DEVNULL, stderr=decoder_err
        )
        assert encoder.stdin is not None and encoder.stdout is not None
        encoder.stdout.close()  # the decoder holds it now
        try:
            _feed(programme, plan, encoder.stdin, progress, failures)
        finally:
            encoder_code, decoder_code = encoder.wait(), decoder.wait()
        if failures:
            raise failures[0]
        if encoder_code != 0:
            raise AudioError(f"MP3 encoding failed: {last_error_line(read_stderr(encoder_err))}")
        report = read_stderr(decoder_err)
        if decoder_code != 0:
            raise AudioError(f"could not decode the encoded MP3: {last_error_line(report)}")
    measured = parse_summary(
        report,
        channels=programme.channels,
        sample_rate=programme.sample_rate,
        frames=programme.frames,
    )
    return encoded, measured


def _commands(
    programme: Programme, name: str, bitrate_kbps: int, *, dual_mono: bool
) -> tuple[list[str], list[str]]:
    """The encoder (PCM on stdin; the MP3 to `name` and to stdout) and the meter after it.

    The stream has no LAME header, so its decoder does not drop the encoder delay (the file's
    decoder does): `atrim` skips it, and the padding at the end, so the meter reads exactly the
    samples a player of the file plays.
    """
    channels, rate = str(programme.channels), str(programme.sample_rate)
    slave = "f=mp3:id3v2_version=0"
    encoder = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y",
        "-f", "f32le", "-ar", rate, "-ac", channels, "-i", "pipe:0",
        "-map", "0:a", *_lame_arguments(bitrate_kbps, programme.sample_rate, programme.channels),
        "-f", "tee", f"[{slave}:write_xing=1]{name}|[{slave}:write_xing=0]pipe:1",
    ]  # fmt: skip
    start, end = MP3_ENCODER_DELAY_FRAMES, MP3_ENCODER_DELAY_FRAMES + programme.frames
    meter = f"atrim=start_sample={start}:end_sample={end},{ebur128_filter(dual_mono=dual_mono)}"
    decoder = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats",
        "-f", "mp3", "-i", "pipe:0", "-af", meter, "-f", "null", "-",
    ]  # fmt: skip
    return encoder, decoder


def _feed(
    programme: Programme,
    plan: Plan,
    sink: IO[bytes],
    progress: Progress | None,
    failures: list[BaseException],
) -> None:
    """The encoder's stdin: the limited programme, then EOF."""
    rate, done = programme.sample_rate, 0
    try:
        for block in limited_blocks(programme, plan):
            sink.write(np.asarray(block, "<f4").tobytes())
            done += len(block)
            if progress:
                progress("encoding", done / rate, programme.frames / rate)
    except BrokenPipeError:
        pass  # the encoder stopped; its exit status and stderr tell why
    except BaseException as exc:  # re-raised once the encoder has stopped
        failures.append(exc)
    finally:
        with contextlib.suppress(BrokenPipeError):
            sink.close()


def _lame_arguments(bitrate_kbps: int, rate: int, channels: int) -> list[str]:
    return ["-map_metadata", "-1", "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k"] + [
        "-ar", str(rate), "-ac", str(channels),
    ]  # fmt: skip


def write_tags(path: Path, tags: Tags, *, duration_seconds: float) -> None:
    """ID3v2.4: title, show, author, year, language, summary, cover (APIC), chapters (CHAP/CTOC)."""
    from mutagen.id3 import (
        APIC,
        COMM,
        ID3,
        TALB,
        TDRC,
        TIT2,
        TLAN,
        TPE1,
        TPOS,
        TRCK,
        Encoding,
        PictureType,
    )

    id3 = ID3()
    id3.add(TIT2(encoding=Encoding.UTF8, text=tags.title))
    id3.add(TALB(encoding=Encoding.UTF8, text=tags.show))
    id3.add(TPE1(encoding=Encoding.UTF8, text=tags.author))
    id3.add(TLAN(encoding=Encoding.UTF8, text=tags.language))
    if tags.year:
        id3.add(TDRC(encoding=Encoding.UTF8, text=str(tags.year)))
    if tags.number is not None:
        id3.add(TRCK(encoding=Encoding.UTF8, text=str(tags.number)))
    if tags.season is not None:
        id3.add(TPOS(encoding=Encoding.UTF8, text=str(tags.season)))
    if tags.summary:
        id3.add(COMM(encoding=Encoding.UTF8, lang=tags.language, desc="", text=tags.summary))
    if tags.cover is not None:
        mime = "image/png" if tags.cover.suffix.lower() == ".png" else "image/jpeg"
        id3.add(
            APIC(
                encoding=Encoding.UTF8,
                mime=mime,
                type=PictureType.COVER_FRONT,
                desc="",
                data=tags.cover.read_bytes(),
            )
        )
    if tags.chapters:
        for frame in _chapter_frames(tags.chapters, duration_seconds):
            id3.add(frame)
    try:
        id3.save(str(path), v2_version=4)
    except Exception as exc:  # mutagen raises its own error types for unwritable files
        raise AudioError(f"could not write ID3 tags to {path}: {exc}") from None


def _chapter_frames(chapters: Sequence[Chapter], duration_seconds: float) -> list[Any]:
    """One CHAP frame per chapter (times clamped to the audio) and the CTOC listing them."""
    from mutagen.id3 import CHAP, CTOC, TIT2, WXXX, CTOCFlags, Encoding

    total_ms = round(duration_seconds * 1000)
    frames: list[Any] = []
    ids = []
    for index, chapter in enumerate(chapters):
        following = chapters[index + 1].start if index + 1 < len(chapters) else None
        end = chapter.end if chapter.end is not None else following
        start_ms = min(round(chapter.start * 1000), total_ms)
        end_ms = min(round(end * 1000) if end is not None else total_ms, total_ms)
        element = f"chp{index}"
        sub_frames: list[Any] = [TIT2(encoding=Encoding.UTF8, text=chapter.title)]
        if chapter.url:
            sub_frames.append(WXXX(encoding=Encoding.UTF8, desc="", url=chapter.url))
        frames.append(
            CHAP(
                element_id=element,
                start_time=start_ms,
                end_time=max(end_ms, start_ms),
                sub_frames=sub_frames,
            )
        )
        if chapter.toc:
            ids.append(element)
    frames.append(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[TIT2(encoding=Encoding.UTF8, text="Kapitel")],
        )
    )
    return frames


def mp3_channels(path: Path) -> int:
    """The channel count in an MP3's header (2 when it cannot be read: stereo is the default)."""
    from mutagen.mp3 import MP3, HeaderNotFoundError

    try:
        info = MP3(str(path)).info
    except (HeaderNotFoundError, OSError):
        return 2
    return int(getattr(info, "channels", 2))
