"""Transcription speed, memory and accuracy: real-time factor, peak RSS and WER.

    .venv/bin/python benchmarks/transcribe.py [--skip-long] [--openai-checkpoint PATH]

Builds a ≥ 5-minute Swedish fixture at run time (espeak-ng sentences with pauses, looped; nothing
large is committed) and a 30-minute one (the 5-minute file looped), caches them in build/bench/,
then runs each measurement in a child process so its peak RSS is its own. Targets (2 cores):
RTF ≤ 0.15 for base int8, peak RSS ≤ 600 MB, memory flat with length.

Add engines or models to RUNS. openai-whisper runs when its extra is installed (on `base`,
which its engine converts) or on the checkpoint given by --openai-checkpoint
(or OUTREACH_BENCH_OPENAI_CHECKPOINT).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "bench"
SAMPLE_RATE = 16_000

SENTENCES = [
    "Välkommen till Digitalsamtal, podden om artificiell intelligens i offentlig sektor.",
    "I dag pratar vi om hur kommuner kan börja arbeta med data på ett ansvarsfullt sätt.",
    "Många organisationer i civilsamhället saknar tid och pengar för att testa nya verktyg.",
    "Därför startade vi ett gemensamt projekt tillsammans med flera regioner.",
    "Det viktigaste är att börja i liten skala med ett tydligt problem.",
    "Man behöver också prata med medarbetarna tidigt och lyssna på deras frågor.",
    "En bra början är att beskriva vilka beslut som ska fattas och vilken information som finns.",
    "Sedan kan man pröva en enkel lösning och mäta om den faktiskt hjälper.",
    "Vi har sett att små steg ger både erfarenhet och förtroende.",
    "Nästa gång berättar vi mer om hur man upphandlar tjänster som bygger på maskininlärning.",
    "Tack för att du lyssnade och välkommen tillbaka nästa vecka.",
]
SHORT_PAUSE = 0.6
LONG_PAUSE = 3.0  # every fourth sentence: room for the silence guard to matter


@dataclass(frozen=True)
class Run:
    label: str
    engine: str
    model: str
    beam: int
    audio: str  # "5min" or "30min"


RUNS = [
    Run("faster-whisper base int8, beam 1", "faster-whisper", "base", 1, "5min"),
    Run("faster-whisper base int8, beam 5", "faster-whisper", "base", 5, "5min"),
    Run("faster-whisper base int8, beam 1, 30 min", "faster-whisper", "base", 1, "30min"),
]


def _ffmpeg() -> str:
    from outreach.audio.decode import ffmpeg_exe

    return ffmpeg_exe()


def _sentence_pcm(index: int, text: str) -> bytes:
    raw = BUILD / f"sentence-{index:02d}.wav"
    if not raw.exists():
        spoken = BUILD / f"sentence-{index:02d}-espeak.wav"
        subprocess.run(["espeak-ng", "-v", "sv", "-s", "155", "-w", str(spoken), text], check=True)
        subprocess.run(
            [
                _ffmpeg(),
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(spoken),
                "-ar",
                str(SAMPLE_RATE),
                "-ac",
                "1",
                "-sample_fmt",
                "s16",
                str(raw),
            ],
            check=True,
        )
        spoken.unlink()
    with wave.open(str(raw), "rb") as handle:
        return handle.readframes(handle.getnframes())


def build_fixtures() -> tuple[Path, Path, str]:
    """The 5-minute file, the 30-minute file and the 5-minute reference text."""
    BUILD.mkdir(parents=True, exist_ok=True)
    five, thirty, reference = BUILD / "sv-5min.wav", BUILD / "sv-30min.wav", BUILD / "sv-5min.txt"
    if not (five.exists() and reference.exists()):
        pcm = [_sentence_pcm(i, s) for i, s in enumerate(SENTENCES)]
        frames = bytearray()
        words: list[str] = []
        count = 0
        while len(frames) < 300 * SAMPLE_RATE * 2:
            index = count % len(SENTENCES)
            frames += pcm[index]
            pause = LONG_PAUSE if count % 4 == 3 else SHORT_PAUSE
            frames += b"\x00\x00" * int(pause * SAMPLE_RATE)
            words.append(SENTENCES[index])
            count += 1
        with wave.open(str(five), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(bytes(frames))
        reference.write_text(" ".join(words) + "\n", encoding="utf-8")
    if not thirty.exists():
        subprocess.run(
            [
                _ffmpeg(),
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-stream_loop",
                "5",
                "-i",
                str(five),
                "-c",
                "copy",
                str(thirty),
            ],
            check=True,
        )
    return five, thirty, reference.read_text(encoding="utf-8")


def child(engine: str, model: str, beam: int, audio: Path) -> None:
    """One measurement in this process; prints a JSON line for the parent."""
    from outreach.transcription import TranscribeOptions
    from outreach.transcription.engines import load_engine
    from outreach.transcription.models import resolve_model
    from outreach.transcription.pipeline import AudioInput, transcribe_inputs
    from outreach.transcription.probe import probe_audio
    from outreach.workspace import TranscriptionSettings

    settings = TranscriptionSettings()
    options = TranscribeOptions(
        language="sv", beam_size=beam, glossary=tuple(settings.glossary), compute_type="int8"
    )
    started = time.monotonic()
    loaded = load_engine(engine, resolve_model(model), options)
    loaded_at = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    probe = probe_audio(audio, options.hallucination_silence_threshold)
    segments = transcribe_inputs(loaded, [AudioInput(probe)], options)
    done = time.monotonic()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "load_seconds": loaded_at - started,
                "transcribe_seconds": done - loaded_at,
                "cpu_seconds": cpu,
                "audio_seconds": probe.duration,
                "peak_rss_mb": peak_kib / 1024,
                "text": " ".join(s["text"] for s in segments),
            }
        )
    )


def _openai_available() -> bool:
    """The openai-whisper engine and its library import (it converts `base` itself)."""
    try:
        import whisper  # noqa: F401

        import outreach.transcription.openai_engine  # noqa: F401
    except ImportError:
        return False
    return True


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def measure(
    run: Run, audio: Path, extra_env: dict[str, str] | None = None
) -> dict[str, float | str]:
    command = [
        sys.executable,
        __file__,
        "--child",
        run.engine,
        run.model,
        str(run.beam),
        str(audio),
    ]
    env = {**os.environ, **(extra_env or {})}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise RuntimeError(tail)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-long", action="store_true", help="Leave out the 30-minute run.")
    parser.add_argument(
        "--openai-checkpoint",
        default=os.environ.get("OUTREACH_BENCH_OPENAI_CHECKPOINT"),
        help="An openai-whisper checkpoint (.pt) to benchmark the second engine with.",
    )
    args = parser.parse_args()
    runs = [r for r in RUNS if not (args.skip_long and r.audio == "30min")]
    openai_model = args.openai_checkpoint or ("base" if _openai_available() else None)
    if openai_model:
        label = "base" if openai_model == "base" else Path(openai_model).name
        runs += [
            Run(f"openai-whisper {label}, beam 1", "openai-whisper", openai_model, 1, "5min"),
            Run(f"openai-whisper {label}, beam 5", "openai-whisper", openai_model, 5, "5min"),
        ]
    else:
        print("openai-whisper: skipped (install the extra, or give --openai-checkpoint PATH)")
    five, thirty, reference = build_fixtures()
    import jiwer

    cores = len(os.sched_getaffinity(0))
    print(
        f"Swedish espeak-ng fixture: {five.name}; {cores} cores; targets RTF ≤ 0.15, RSS ≤ 600 MB"
    )
    print(f"load average now: {os.getloadavg()[0]:.1f} (RTF on a busy machine is pessimistic;")
    print(f"  cpuRTF = CPU seconds / audio seconds / {cores} cores: idle-machine RTF, lower bound)")
    header = (
        f"{'run':<44} {'audio':>7} {'load':>6} {'RTF':>6} {'cpuRTF':>6} {'peak RSS':>9} {'WER':>6}"
    )
    print(header)
    for run in runs:
        audio = five if run.audio == "5min" else thirty
        try:
            result = measure(run, audio)
        except RuntimeError as exc:
            print(f"{run.label:<44} failed: {exc}")
            continue
        rtf = float(result["transcribe_seconds"]) / float(result["audio_seconds"])
        cpu_rtf = float(result["cpu_seconds"]) / float(result["audio_seconds"]) / cores
        wer = "-"
        if run.audio == "5min":
            wer = f"{jiwer.wer(normalise(reference), normalise(str(result['text']))):.3f}"
        print(
            f"{run.label:<44} {float(result['audio_seconds']) / 60:>5.1f}m "
            f"{float(result['load_seconds']):>5.1f}s {rtf:>6.3f} {cpu_rtf:>6.3f} "
            f"{float(result['peak_rss_mb']):>6.0f} MB {wer:>6}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))
    else:
        main()
