"""ffmpeg and the MP3: decoding, probing, `normalize_loudness` (measure, limit, encode, check) and tags.

Everything streams: ffmpeg decodes to 32-bit float PCM on a pipe, read in blocks of about 1.5 s,
so a 60-minute episode is never in memory whole. The meters are in `outreach.loudness`, the
limiter and its plan in `outreach.limiter`.

Normalisation is linear: one static gain to the target, then a look-ahead true-peak limiter that
only touches the peaks (its gain computed per 1 ms control step), then libmp3lame. ffmpeg's
`loudnorm` is not used: in its "linear" mode it silently falls back to dynamic compression (and
192 kHz resampling) whenever the gain would push the peaks over the ceiling, which is the usual
case for speech. The encoded file is decoded and measured again, and both measurements are
reported.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from outreach.audio.limiter import (
    BLOCK_FRAMES,
    MAX_MAKEUP_DB,
    Block,
    LimiterStats,
    Plan,
    Programme,
    Progress,
    limited_blocks,
    record_programme,
    solve_gain,
)
from outreach.audio.loudness import LoudnessMeter, Measurement
from outreach.errors import AudioError, ValidationError
from outreach.fsutil import atomic_path
from outreach.podcast.chapters import Chapter

# libmp3lame puts peaks above the limited PCM it is fed: about 0.3-0.8 dB on speech, and now and
# then (a deep, fast cut on a transient) nearly 2 dB. The limiter aims this far below the
# ceiling; the measurement of the encoded stream catches the file that still peaks over, and the
# encode is redone with the limiter lowered by the measured excess.
ENCODER_HEADROOM_DB = 1.0
# The overshoot grows with how deep the limiter cuts: beyond DEEP_CUT_DB of cut the limiter aims
# this much lower per dB. Measured on the benchmark's hour of speech with the control-rate
# limiter: without it the MP3 peaked 1.1 dB over the limiter at 13.5 dB of cut and 1.4 dB at
# 16 dB, so both needed a second encode; with it one encode lands 0.4-0.5 dB under the ceiling.
# A retry after a peak over the ceiling lowers the limiter by the excess and this margin (the
# overshoot is erratic).
DEEP_CUT_DB = 10.0
DEEP_CUT_HEADROOM_PER_DB = 0.2
DEEP_CUT_MAX_EXTRA_DB = 1.5
RETRY_PEAK_MARGIN_DB = 0.3
# libmp3lame (through ffmpeg) plays back about 0.45 dB quieter than the PCM it was given, even
# for a pure tone: the plan aims the PCM this much higher, and a retry uses the measured offset.
MP3_LEVEL_OFFSET_DB = 0.45
# libmp3lame's encoder delay (576 + the decoder's 529 samples), which its LAME header tells
# decoders to skip.
MP3_ENCODER_DELAY_FRAMES = 1105
# The encode is redone only when the MP3 misses the target by more than this (the target is
# +-0.5 LU; the margin covers the spread between meters).
LOUDNESS_TOLERANCE_LU = 0.4
MAX_ATTEMPTS = 3

# --------------------------------------------------------------------------------------------
# ffmpeg


def ffmpeg_exe() -> str:
    """ffmpeg from PATH, else the binary shipped in the imageio-ffmpeg wheel (it has no ffprobe)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True)
class AudioInfo:
    """What `probe` learnt by decoding a whole file."""

    path: Path
    codec: str
    channels: int
    sample_rate: int
    duration_seconds: float


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Audio: ([^,\s]+)[^,]*, (\d+) Hz, ([^,]+)")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "5.0": 5, "5.1": 6}


def _last_error_line(text: str) -> str:
    """The most telling line of ffmpeg's stderr, without its `[component @ 0x...]` prefixes."""
    lines = [re.sub(r"^(\[[^\]]*\]\s*)+", "", line).strip() for line in text.splitlines()]
    lines = [
        line
        for line in lines
        if line and line != "Conversion failed!" and not line.startswith(("Input #", "Output #"))
    ]
    for line in lines:
        if re.search(r"(?i)invalid|error|corrupt|failed|missing", line):
            return line
    return lines[-1] if lines else "ffmpeg failed"


def probe(path: Path) -> AudioInfo:
    """Decode the whole first audio stream to nothing: refuses empty, non-audio and corrupt files.

    Decoding (rather than reading headers) is what finds a file that is damaged in the middle.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValidationError(f"{path}: the file is empty")
    command = [
        ffmpeg_exe(),
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-xerror",
        "-err_detect",
        "crccheck+bitstream+buffer+explode",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-f",
        "null",
        "-progress",
        "pipe:1",
        "-",
    ]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    stderr = result.stderr
    match = _STREAM_RE.search(stderr)
    if match is None or "matches no streams" in stderr:
        if "Invalid data found" in stderr and match is None and "Input #0" not in stderr:
            raise ValidationError(f"{path}: not an audio file ffmpeg can read")
        raise ValidationError(f"{path}: not an audio file (no audio stream)")
    if result.returncode != 0:
        raise ValidationError(f"{path}: corrupt audio ({_last_error_line(stderr)})")
    codec, rate, channels = _stream_info(path, stderr) or ("", 0, 0)
    times = re.findall(r"out_time_us=(\d+)", result.stdout)
    duration = int(times[-1]) / 1e6 if times else 0.0
    if duration <= 0:
        raise ValidationError(f"{path}: contains no audio samples")
    return AudioInfo(path, codec, channels, rate, duration)


def _stream_info(path: Path, stderr: str) -> tuple[str, int, int] | None:
    match = _STREAM_RE.search(stderr)
    if match is None:
        return None
    codec, rate, layout = match.group(1), int(match.group(2)), match.group(3).strip()
    channels = _LAYOUT_CHANNELS.get(layout.split("(")[0].strip())
    if channels is None:
        counted = re.match(r"(\d+) channels", layout)
        channels = int(counted.group(1)) if counted else 2
    return codec, rate, channels


def probe_header(path: Path) -> AudioInfo:
    """Channels, rate and (container) duration from the header only: quick, for planning."""
    result = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    info = _stream_info(path, result.stderr)
    if info is None:
        raise AudioError(f"{path}: not an audio file (no audio stream)")
    found = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", result.stderr)
    duration = (
        int(found.group(1)) * 3600 + int(found.group(2)) * 60 + float(found.group(3))
        if found
        else 0.0
    )
    return AudioInfo(Path(path), info[0], info[2], info[1], duration)


@contextlib.contextmanager
def _stderr_file() -> Iterator[IO[bytes]]:
    with tempfile.TemporaryFile() as handle:
        yield handle


def _read_stderr(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")


def decode_blocks(
    sources: Sequence[Path],
    channels: int,
    sample_rate: int,
    block_frames: int = BLOCK_FRAMES,
) -> Iterator[Block]:
    """Yield float32 blocks of shape (frames, channels); several sources are mixed (summed).

    Tracks recorded in one session are summed sample by sample (ffmpeg `amix` with
    `normalize=0`, so the mix is the plain sum and the loudness stage sets the level).
    """
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error"]
    for source in sources:
        command += ["-i", str(source)]
    if len(sources) > 1:
        inputs = "".join(f"[{i}:a:0]" for i in range(len(sources)))
        command += [
            "-filter_complex",
            f"{inputs}amix=inputs={len(sources)}:duration=longest:normalize=0[mix]",
            "-map",
            "[mix]",
        ]
    else:
        command += ["-map", "0:a:0"]
    command += ["-ac", str(channels), "-ar", str(sample_rate), "-f", "f32le", "-c:a", "pcm_f32le"]
    command += ["pipe:1"]
    frame_bytes = 4 * channels
    with _stderr_file() as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)
        assert process.stdout is not None
        completed = False
        try:
            want = block_frames * frame_bytes
            while True:
                data = process.stdout.read(want)
                if not data:
                    break
                usable = len(data) - len(data) % frame_bytes
                if usable:
                    yield np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)
            completed = True
        finally:
            process.stdout.close()
            if not completed:
                process.kill()
            code = process.wait()
        if code != 0:
            names = ", ".join(str(s) for s in sources)
            raise AudioError(f"could not decode {names}: {_last_error_line(_read_stderr(err))}")


# --------------------------------------------------------------------------------------------
# Measuring


def measure(
    sources: Sequence[Path],
    channels: int,
    sample_rate: int,
    *,
    dual_mono: bool = False,
    progress: Progress | None = None,
    step: str = "measuring",
    total_seconds: float = 0.0,
) -> Measurement:
    """Decode and measure (the first pass, and the check on the encoded file)."""
    meter = LoudnessMeter(channels, sample_rate, dual_mono=dual_mono)
    for block in decode_blocks(sources, channels, sample_rate):
        meter.add(block)
        if progress:
            progress(step, meter.frames / sample_rate, total_seconds)
    return meter.result()


# --------------------------------------------------------------------------------------------
# Encoding and tagging


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


@dataclass
class NormalizeReport:
    """What `normalize_loudness` did: both measurements, the gain and what the limiter touched."""

    before: Measurement
    after: Measurement
    gain_db: float
    target_lufs: float
    ceiling_dbtp: float
    limiter: LimiterStats
    output: Path
    byte_size: int
    attempts: int = 1
    # Loudness the limited PCM was predicted to have (before the encoder's level offset).
    predicted_lufs: float = -math.inf
    plan_passes: int = 0
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Encoding (with the check of the encoded stream in the same pass)


def _pcm_blocks(stream: IO[bytes], channels: int, block_frames: int) -> Iterator[Block]:
    frame_bytes = 4 * channels
    want = block_frames * frame_bytes
    pending = b""
    while True:
        data = stream.read(want)
        if not data:
            break
        data = pending + data
        usable = len(data) - len(data) % frame_bytes
        pending = data[usable:]
        if usable:
            yield np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)


def _encode_and_check(
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
    gets its Xing/LAME header) and to a pipe into a second ffmpeg that decodes them again; that
    PCM is measured as it arrives, so the check of the encoded file costs no extra pass.
    """
    channels, rate = programme.channels, programme.sample_rate
    encoded = folder / "encoded.mp3"
    slave = "f=mp3:id3v2_version=0"
    encoder_command = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y",
        "-f", "f32le", "-ar", str(rate), "-ac", str(channels), "-i", "pipe:0",
        "-map", "0:a", *_lame_arguments(bitrate_kbps, rate, channels),
        "-f", "tee", f"[{slave}:write_xing=1]{encoded.name}|[{slave}:write_xing=0]pipe:1",
    ]  # fmt: skip
    decoder_command = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error",
        "-f", "mp3", "-i", "pipe:0", "-ac", str(channels), "-ar", str(rate),
        "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1",
    ]  # fmt: skip
    meter = LoudnessMeter(channels, rate, dual_mono=dual_mono)
    failures: list[BaseException] = []
    total_seconds = programme.frames / rate
    with _stderr_file() as encoder_err, _stderr_file() as decoder_err:
        encoder = subprocess.Popen(
            encoder_command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=encoder_err,
            cwd=folder,
        )
        decoder = subprocess.Popen(
            decoder_command, stdin=encoder.stdout, stdout=subprocess.PIPE, stderr=decoder_err
        )
        assert encoder.stdin is not None and encoder.stdout is not None
        assert decoder.stdout is not None
        encoder.stdout.close()  # the decoder holds it now
        sink = encoder.stdin

        def feed() -> None:
            done = 0
            try:
                for block in limited_blocks(programme, plan):
                    sink.write(np.asarray(block, "<f4").tobytes())
                    done += len(block)
                    if progress:
                        progress("encoding", done / rate, total_seconds)
            except BrokenPipeError:
                pass  # the encoder stopped; its exit status and stderr tell why
            except BaseException as exc:  # re-raised in the calling thread
                failures.append(exc)
            finally:
                with contextlib.suppress(BrokenPipeError):
                    sink.close()

        feeder = threading.Thread(target=feed, name="mp3-feed", daemon=True)
        feeder.start()
        completed = False
        try:
            # The stream has no LAME header, so its decoder does not drop the encoder delay
            # (the file's decoder does): skip it, and the padding at the end, to measure
            # exactly the samples a player of the file plays.
            skip, wanted = MP3_ENCODER_DELAY_FRAMES, programme.frames
            for block in _pcm_blocks(decoder.stdout, channels, BLOCK_FRAMES):
                if skip:
                    dropped = min(skip, len(block))
                    block, skip = block[dropped:], skip - dropped
                block = block[: max(0, wanted - meter.frames)]
                meter.add(block)
            completed = True
        finally:
            if not completed:
                encoder.kill()
                decoder.kill()
            feeder.join()
            decoder.stdout.close()
            encoder_code, decoder_code = encoder.wait(), decoder.wait()
        if failures:
            raise failures[0]
        if encoder_code != 0:
            raise AudioError(f"MP3 encoding failed: {_last_error_line(_read_stderr(encoder_err))}")
        if decoder_code != 0:
            raise AudioError(
                f"could not decode the encoded MP3: {_last_error_line(_read_stderr(decoder_err))}"
            )
    after = meter.result()
    return encoded, after


def _lame_arguments(bitrate_kbps: int, rate: int, channels: int) -> list[str]:
    return ["-map_metadata", "-1", "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k"] + [
        "-ar", str(rate), "-ac", str(channels),
    ]  # fmt: skip


def normalize_loudness(
    sources: Sequence[Path],
    output: Path,
    *,
    target_lufs: float,
    ceiling_dbtp: float,
    channels: int,
    sample_rate: int,
    bitrate_kbps: int,
    dual_mono: bool,
    tags: Tags | None = None,
    progress: Progress | None = None,
    duration_hint: float = 0.0,
) -> NormalizeReport:
    """Measure, gain + true-peak limit, encode MP3, tag, measure again; `output` appears atomically.

    One decode (cached as float32 on disk next to the output, with the limiter's control records),
    a plan that predicts from those records how much loudness the limiter will take off and
    solves for the gain that makes up for it, then one encode whose output is measured while it
    is written. Only if that measurement misses
    (by more than LOUDNESS_TOLERANCE_LU, or peaks over the ceiling) is the encode redone, with
    the encoder's observed level offset and peak overshoot taken into account.
    """
    if not sources:
        raise AudioError("no source audio")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".normalize-", dir=output.parent) as work_name:
        work = Path(work_name)
        before, programme = record_programme(
            decode_blocks(sources, channels, sample_rate),
            work,
            channels,
            sample_rate,
            dual_mono=dual_mono,
            progress=progress,
            total_seconds=duration_hint,
        )
        if not math.isfinite(before.integrated_lufs):
            raise AudioError("the audio is silent (below -70 LUFS): nothing to normalise")
        limit_dbtp = ceiling_dbtp - ENCODER_HEADROOM_DB
        level_offset = MP3_LEVEL_OFFSET_DB
        notes: list[str] = []
        plan_passes = 0
        gains = work / "gains.f32"
        with atomic_path(output, suffix=".mp3") as tmp:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                plan, passes = solve_gain(
                    programme, target_lufs + level_offset, limit_dbtp, progress, gains
                )
                plan_passes += passes
                # Aiming lower deepens the cut itself (the gain rises to make up): about twice
                # the extra headroom, hence the fixed point.
                extra = min(
                    DEEP_CUT_MAX_EXTRA_DB,
                    DEEP_CUT_HEADROOM_PER_DB
                    * (plan.stats.max_reduction_db - DEEP_CUT_DB)
                    / (1.0 - 2.0 * DEEP_CUT_HEADROOM_PER_DB),
                )
                if attempt == 1 and extra > 0.05:
                    limit_dbtp -= extra
                    notes.append(
                        f"the limiter cuts up to {plan.stats.max_reduction_db:.0f} dB: aiming"
                        f" {ceiling_dbtp - limit_dbtp:.1f} dB under the ceiling, as the encoder"
                        " overshoots more on audio limited this hard"
                    )
                    plan, passes = solve_gain(
                        programme, target_lufs + level_offset, limit_dbtp, progress, gains
                    )
                    plan_passes += passes
                gain_db, predicted = plan.gain_db, plan.lufs
                encoded, after = _encode_and_check(
                    programme,
                    plan,
                    work,
                    bitrate_kbps=bitrate_kbps,
                    dual_mono=dual_mono,
                    progress=progress,
                )
                loudness_error = target_lufs - after.integrated_lufs
                peak_excess = after.true_peak_dbtp - ceiling_dbtp
                if abs(target_lufs + level_offset - predicted) > LOUDNESS_TOLERANCE_LU:
                    # No gain reaches the target under this ceiling: encoding again won't help.
                    notes.append(
                        f"{target_lufs:g} LUFS is out of reach under the ceiling (the limiter"
                        f" would have to cut more than {MAX_MAKEUP_DB:g} dB)"
                    )
                    loudness_error = 0.0
                if attempt == MAX_ATTEMPTS or (
                    abs(loudness_error) <= LOUDNESS_TOLERANCE_LU and peak_excess <= 0
                ):
                    break
                if peak_excess > 0:
                    limit_dbtp -= peak_excess + RETRY_PEAK_MARGIN_DB
                    notes.append(f"the MP3 peaked {peak_excess:.2f} dB over; limiting lower")
                if abs(loudness_error) > LOUDNESS_TOLERANCE_LU:
                    notes.append(
                        f"the MP3 was {-loudness_error:+.2f} LU off target; encoding again"
                    )
                # What the encoder really did to the level, measured: plan with that next time.
                level_offset = predicted - after.integrated_lufs
            os.replace(encoded, tmp)
            if tags is not None:
                write_tags(tmp, tags, duration_seconds=after.duration_seconds)
            byte_size = tmp.stat().st_size
            # The MP3 is published media (mkstemp made the temporary file private).
            tmp.chmod(0o644)
    return NormalizeReport(
        before=before,
        after=after,
        gain_db=gain_db,
        target_lufs=target_lufs,
        ceiling_dbtp=ceiling_dbtp,
        limiter=plan.stats,
        output=output,
        byte_size=byte_size,
        attempts=attempt,
        predicted_lufs=predicted - level_offset,
        plan_passes=plan_passes,
        notes=notes,
    )


def write_tags(path: Path, tags: Tags, *, duration_seconds: float) -> None:
    """ID3v2.4: title, show, author, year, language, summary, cover (APIC), chapters (CHAP/CTOC)."""
    from mutagen.id3 import (
        APIC,
        CHAP,
        COMM,
        CTOC,
        ID3,
        TALB,
        TDRC,
        TIT2,
        TLAN,
        TPE1,
        TPOS,
        TRCK,
        CTOCFlags,
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
        total_ms = round(duration_seconds * 1000)
        ids = []
        for index, chapter in enumerate(tags.chapters):
            following = tags.chapters[index + 1].start if index + 1 < len(tags.chapters) else None
            end = chapter.end if chapter.end is not None else following
            start_ms = min(round(chapter.start * 1000), total_ms)
            end_ms = min(round(end * 1000) if end is not None else total_ms, total_ms)
            element = f"chp{index}"
            sub_frames: list[Any] = [TIT2(encoding=Encoding.UTF8, text=chapter.title)]
            if chapter.url:
                from mutagen.id3 import WXXX

                sub_frames.append(WXXX(encoding=Encoding.UTF8, desc="", url=chapter.url))
            id3.add(
                CHAP(
                    element_id=element,
                    start_time=start_ms,
                    end_time=max(end_ms, start_ms),
                    sub_frames=sub_frames,
                )
            )
            if chapter.toc:
                ids.append(element)
        id3.add(
            CTOC(
                element_id="toc",
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[TIT2(encoding=Encoding.UTF8, text="Kapitel")],
            )
        )
    try:
        id3.save(str(path), v2_version=4)
    except Exception as exc:  # mutagen raises its own error types for unwritable files
        raise AudioError(f"could not write ID3 tags to {path}: {exc}") from None
