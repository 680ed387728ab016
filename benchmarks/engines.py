"""faster-whisper against openai-whisper on the same audio and the same weights.

    .venv/bin/python benchmarks/engines.py [--threads 2]

The weights are the offline *base* model: CTranslate2 float16 for faster-whisper (int8, its
default, and float32), and the same file converted to an openai-whisper checkpoint (fp32). Both
run with the team's settings (language given, condition_on_previous_text off, word timestamps,
hallucination_silence_threshold 2 s), VAD off so both decode the same windows, beam 5 and greedy.

Each run is a child process, so peak RSS is its own (model load included). The real-time factor
is transcription time over audio duration, after one warm-up transcription of a short fixture
(numba compiles openai-whisper's DTW on first use; CTranslate2 has its own first-call costs).
The audio is about a minute of distinct Swedish sentences spoken by espeak-ng (made once into
build/bench/engines-sv.wav; espeak-ng is a Debian package, needed for the benchmark only).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
FIXTURES = REPO / "tests" / "fixtures"
BUILD = REPO / "build" / "bench"
RUNS = [
    ("faster-whisper", "int8"),
    ("faster-whisper", "float32"),
    ("openai-whisper", "float32"),
]


SENTENCES = [
    "Välkommen till Digitalsamtal, ett samtal om artificiell intelligens i offentlig sektor.",
    "I dag träffar vi två personer som har infört nya digitala tjänster i sina kommuner.",
    "Den första frågan handlar om hur man väljer rätt problem att börja med.",
    "Många förvaltningar har mycket data men saknar tid att städa och beskriva den.",
    "Civilsamhällets organisationer arbetar ofta med små budgetar och frivilliga krafter.",
    "Därför behövs samarbeten där regioner, kommuner och föreningar delar erfarenheter.",
    "Vinnova och AI Sweden stöttar flera sådana projekt runt om i landet.",
    "Ett gott råd är att prata med medarbetarna tidigt och ta deras frågor på allvar.",
    "Sedan kan man pröva en enkel lösning och följa upp om den verkligen hjälper.",
    "Upphandling är ett eget kapitel, eftersom tekniken förändras snabbare än avtalen.",
    "Vi avslutar med att blicka framåt mot nästa år och de satsningar som planeras.",
    "Tack för att du lyssnade, och välkommen tillbaka till nästa avsnitt av podden.",
]
PAUSE_SECONDS = 0.7


def speech_audio() -> Path:
    """About a minute of distinct Swedish sentences (espeak-ng), 16 kHz mono, made once.

    Distinct sentences matter: a looped clip repeats itself inside one 30-second window, which
    sets off Whisper's compression-ratio fallback and measures the fallback instead of decoding.
    """
    from outreach.transcription.openai_engine import decode_audio

    target = BUILD / "engines-sv.wav"
    if target.exists():
        return target
    BUILD.mkdir(parents=True, exist_ok=True)
    pieces = []
    pause = np.zeros(int(PAUSE_SECONDS * 16_000), np.int16)
    for index, sentence in enumerate(SENTENCES):
        spoken = BUILD / f"engines-sentence-{index:02d}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "sv", "-s", "150", "-w", str(spoken), sentence], check=True
        )
        samples = decode_audio(spoken)  # resampled to 16 kHz mono by ffmpeg
        pieces += [(samples * 32767).astype(np.int16), pause]
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(np.concatenate(pieces).tobytes())
    return target


def child(engine: str, compute_type: str, beam: int, audio: Path, threads: int) -> dict:
    """One measurement, in this (child) process."""
    from outreach.transcription import TranscribeOptions
    from outreach.transcription.models import resolve_model
    from outreach.transcription.openai_engine import OpenAIWhisperEngine, decode_audio

    options = TranscribeOptions(language="sv", beam_size=beam, vad=False, glossary=())
    base = resolve_model("base")
    samples = decode_audio(audio)
    warmup = FIXTURES / "speech-sv.wav"
    started = time.perf_counter()
    if engine == "openai-whisper":
        import torch

        torch.set_num_threads(threads)
        model = OpenAIWhisperEngine(base, options)
        loaded = time.perf_counter()
        model.transcribe(warmup, options)
        begin = time.perf_counter()
        segments = model.transcribe(audio, options)
        elapsed = time.perf_counter() - begin
        text = " ".join(s["text"] for s in segments)
    else:
        from faster_whisper import WhisperModel

        fw = WhisperModel(str(base.path), compute_type=compute_type, cpu_threads=threads)
        loaded = time.perf_counter()

        def run(array) -> str:
            pieces, _ = fw.transcribe(
                array,
                language=options.language,
                beam_size=beam,
                vad_filter=False,
                condition_on_previous_text=False,
                word_timestamps=True,
                compression_ratio_threshold=options.compression_ratio_threshold,
                hallucination_silence_threshold=options.hallucination_silence_threshold,
            )
            return " ".join(w.word.strip() for p in pieces for w in p.words if w.word.strip())

        run(decode_audio(warmup))
        begin = time.perf_counter()
        text = run(samples)
        elapsed = time.perf_counter() - begin
    duration = len(samples) / 16_000
    return {
        "load_s": round(loaded - started, 2),
        "elapsed_s": round(elapsed, 2),
        "duration_s": round(duration, 1),
        "rtf": round(elapsed / duration, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "text": text,
    }


def measure(engine: str, compute_type: str, beam: int, audio: Path, threads: int) -> dict:
    command = [sys.executable, __file__, "--child", engine, compute_type, str(beam), str(audio)]
    command += ["--threads", str(threads)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{engine} {compute_type} beam {beam} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@dataclasses.dataclass
class Row:
    label: str
    beam: int
    figures: dict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=4, metavar=("ENGINE", "COMPUTE", "BEAM", "AUDIO"))
    args = parser.parse_args()
    if args.child:
        engine, compute_type, beam, audio = args.child
        print(json.dumps(child(engine, compute_type, int(beam), Path(audio), args.threads)))
        return
    audio = speech_audio()
    print(f"Audio: {audio.relative_to(REPO)}; weights: offline base; {args.threads} threads each")
    rows: list[Row] = []
    for beam in (5, 1):
        for engine, compute_type in RUNS:
            figures = measure(engine, compute_type, beam, audio, args.threads)
            rows.append(Row(f"{engine} {compute_type}", beam, figures))
            print(
                f"  beam {beam}  {engine:<15} {compute_type:<8} RTF {figures['rtf']:.3f}  "
                f"peak RSS {figures['peak_rss_mb']:>5} MB  load {figures['load_s']:.1f} s",
                flush=True,
            )
    print_table(rows)


def print_table(rows: list[Row]) -> None:
    """Markdown: RTF and RSS, with ratios against int8 (the default) and float32 (the same
    arithmetic, and so the same decoding: float32 may fall back to sampling where int8 does not)."""
    print()
    print("| beam | engine | RTF | peak RSS (MB) | RTF ÷ int8 | RTF ÷ float32 | RSS ÷ int8 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for beam in (5, 1):
        group = [row for row in rows if row.beam == beam]
        int8, fp32 = group[0].figures, group[1].figures
        for row in group:
            f = row.figures
            print(
                f"| {beam} | {row.label} | {f['rtf']:.3f} | {f['peak_rss_mb']} | "
                f"{f['rtf'] / int8['rtf']:.2f}× | {f['rtf'] / fp32['rtf']:.2f}× | "
                f"{f['peak_rss_mb'] / int8['peak_rss_mb']:.2f}× |"
            )
    for beam in (5, 1):
        group = [row for row in rows if row.beam == beam]
        same = group[1].figures["text"] == group[2].figures["text"]
        print(f"beam {beam}: openai-whisper fp32 text == faster-whisper float32 text: {same}")


if __name__ == "__main__":
    main()
