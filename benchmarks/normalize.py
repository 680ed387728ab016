"""Normalise a 60-minute episode: wall time, peak RSS and result, next to ffmpeg-normalize.

    .venv/bin/python benchmarks/normalize.py [--minutes 60]

Builds a stereo 44.1 kHz WAV in a temporary folder (the committed Swedish and English speech
looped, a level jump every 20-40 s, background noise), then runs
`outreach episode normalize` in a child process and `ffmpeg-normalize` (EBU R128, libmp3lame 128k,
the same targets) on the same file, each timed with its own peak RSS (os.wait4), and measures both
MP3s with ffmpeg's ebur128 filter as the independent meter.

Two signals, both measured by default (`--case`): "extreme", level jumps of -14 to +4 dB (18 dB
between segments: a static gain then needs up to 15 dB of limiting on the loud ones), and
"realistic", jumps of -6 to +6 dB (a podcast whose segments differ like separately recorded
interviews). The load average is printed with the figures (the machine may be shared), and so is
the CPU time of normalize with its ffmpeg processes, which the load does not stretch. `--tree
PATH` runs another checkout's outreach on the same signal (before/after a change), `--ours-only`
skips ffmpeg-normalize.
Targets: <= 0.5x ffmpeg-normalize's wall time, <= 300 MB peak RSS, -16 +-0.5 LUFS, <= -1.0 dBTP.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from outreach.audio.decode import ffmpeg_exe  # noqa: E402
from tests.helpers.loudness import decode, ebur128  # noqa: E402

RATE = 44100


CASES = {"extreme": (-14.0, 4.0), "realistic": (-6.0, 6.0)}


def build_episode(path: Path, minutes: float, jumps_db: tuple[float, float] = (-14.0, 4.0)) -> None:
    voices = [
        decode(REPO / "tests/fixtures/speech-sv.wav", 1, RATE)[:, 0],
        decode(REPO / "tests/fixtures/speech-en.wav", 1, RATE)[:, 0],
    ]
    rng = np.random.default_rng(7)
    total = int(minutes * 60 * RATE)
    written = 0
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        while written < total:
            seconds = rng.uniform(20, 40)
            gain = 10 ** (rng.uniform(*jumps_db) / 20)
            voice = voices[rng.integers(len(voices))]
            n = min(int(seconds * RATE), total - written)
            reps = int(np.ceil(n / len(voice)))
            mono = np.tile(voice, reps)[:n] * gain * 0.6
            pan = rng.uniform(0.3, 0.7)
            noise = rng.standard_normal((n, 2)) * 10 ** (-55 / 20)
            stereo = np.stack([mono * (1 - pan) * 2, mono * pan * 2], axis=1) * 0.7 + noise
            pcm = np.clip(stereo, -1, 1 - 2**-15)
            out.writeframes((pcm * 32768).astype("<i2").tobytes())
            written += n


def _high_water_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MB; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB of the child (VmHWM, sampled until it exits) and its output.

    getrusage's ru_maxrss is not usable here: on Linux a child starts with the parent's peak.
    Peaks of the child's own children (ffmpeg) are sampled too and reported separately.
    """
    import psutil

    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        peak, helpers = 0.0, 0.0
        parent = psutil.Process(process.pid)
        while process.poll() is None:
            peak = max(peak, _high_water_mb(process.pid))
            with contextlib.suppress(psutil.Error):
                helpers = max(helpers, sum(_high_water_mb(c.pid) for c in parent.children(True)))
            time.sleep(0.05)
        wall = time.perf_counter() - start
        print(
            f"  ({Path(command[0]).name} {' '.join(command[1:3])}...: child processes peaked at {helpers:.0f} MB)"
        )
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{text}")
    return wall, peak, text


def run_case(
    name: str, minutes: float, root: Path, *, tree: Path | None = None, ours_only: bool = False
) -> bool:
    python = sys.executable
    # `--tree` runs the outreach of another checkout (the code before a change), same signal.
    child_env = dict(os.environ, PYTHONPATH=str(tree)) if tree else None
    source = root / "episode.wav"
    started = time.perf_counter()
    build_episode(source, minutes, CASES[name])
    low, high = CASES[name]
    print(
        f"\n=== {name}: level jumps {low:+g} to {high:+g} dB; built {minutes:g} min stereo "
        f"44.1 kHz WAV ({source.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s"
    )
    workspace = root / "ws"
    outreach = [python, "-m", "outreach", "-w", str(workspace)]
    subprocess.run(
        [python, "-m", "outreach", "init", str(workspace)],
        check=True,
        capture_output=True,
        env=child_env,
    )
    wall, rss, _ = timed(
        [*outreach, "episode", "add", str(source), "--title", "Bench", "--host", "Värd"],
        child_env,
    )
    print(f"episode add (copy + full decode check): {wall:.1f} s, {rss:.0f} MB")
    print(f"load average before: {_load()}")
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours_wall, ours_rss, ours_log = timed([*outreach, "episode", "normalize", "bench"], child_env)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of normalize and its ffmpeg processes: steadier than wall time on a shared
    # machine (the wall time stretches with the load; the work does not).
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    ours = ebur128(workspace / "episodes/bench/bench.mp3")
    print("\noutreach episode normalize:")
    for line in ours_log.splitlines():
        if line.startswith(("Before", "After", "Gain", "Note", "Plan")):
            print(f"  {line}")
    print(
        f"  wall {ours_wall:.1f} s, CPU {cpu:.1f} s (with its ffmpeg processes), "
        f"peak RSS {ours_rss:.0f} MB (load average {_load()})"
    )
    print(
        f"  ebur128 of the MP3: {ours.integrated:.1f} LUFS, true peak {ours.true_peak:.1f} dBTP, "
        f"LRA {ours.loudness_range:.1f} LU"
    )
    if ours_only:
        return abs(ours.integrated + 16) <= 0.5 and ours.true_peak <= -1.0
    env = dict(os.environ, FFMPEG_PATH=ffmpeg_exe())
    theirs_mp3 = root / "ffmpeg-normalize.mp3"
    command = [
        str(Path(python).parent / "ffmpeg-normalize"), str(source), "-o", str(theirs_mp3),
        "-c:a", "libmp3lame", "-b:a", "128k", "-ar", str(RATE), "-t", "-16", "-tp", "-1", "-f", "-q",
    ]  # fmt: skip
    theirs_wall, theirs_rss, _ = timed(command, env)
    theirs = ebur128(theirs_mp3)
    source_reading = ebur128(source)
    print("\nffmpeg-normalize (loudnorm, same targets, libmp3lame 128k):")
    print(f"  wall {theirs_wall:.1f} s, peak RSS {theirs_rss:.0f} MB (load average {_load()})")
    print(
        f"  ebur128 of the MP3: {theirs.integrated:.1f} LUFS, true peak {theirs.true_peak:.1f} "
        f"dBTP, LRA {theirs.loudness_range:.1f} LU"
    )
    print(
        f"\nSource LRA {source_reading.loudness_range:.1f} LU; ours {ours.loudness_range:.1f}, "
        f"ffmpeg-normalize {theirs.loudness_range:.1f}"
    )
    ratio = ours_wall / theirs_wall
    print(f"Wall-time ratio ours / ffmpeg-normalize: {ratio:.2f} (target <= 0.5)")
    ok = (
        ratio <= 0.5
        and ours_rss <= 300
        and abs(ours.integrated + 16) <= 0.5
        and ours.true_peak <= -1.0
    )
    print(f"{name}: " + ("targets met" if ok else "targets NOT all met"))
    return ok


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--case", choices=[*CASES, "both"], default="both")
    parser.add_argument(
        "--tree", type=Path, help="Run the outreach of this checkout (e.g. before a change)."
    )
    parser.add_argument(
        "--ours-only", action="store_true", help="Skip ffmpeg-normalize (before/after runs)."
    )
    args = parser.parse_args()
    names = list(CASES) if args.case == "both" else [args.case]
    for name in names:
        with tempfile.TemporaryDirectory(prefix="normalize-bench-") as tmp:
            run_case(name, args.minutes, Path(tmp), tree=args.tree, ours_only=args.ours_only)


if __name__ == "__main__":
    main()
