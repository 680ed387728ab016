"""`outreach subscriber import` of large CSV files: time and peak RSS for 100,000 and 1,000,000 rows.

Generates a realistic semicolon CSV (UTF-8 with BOM, Swedish headers with Förnamn/Efternamn, mixed
case addresses, organisations with quoted semicolons, one or two segments, 1% invalid addresses,
0.5% repeated addresses), then runs the real CLI in a fresh process per size on a fresh workspace
(SQLite), so the peak RSS is the import's own. Then imports the same file again (everything known:
the re-import path). Prints wall time and the process's CPU time: on a shared machine the wall
time mostly measures the other work.

    .venv/bin/python benchmarks/import_subscribers.py            # 100k and 1M
    .venv/bin/python benchmarks/import_subscribers.py 20000      # other sizes
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRST = ["Anna", "Erik", "Åsa", "Björn", "Maria", "Johan", "Sara", "Örjan", "Lena", "Karl"]
LAST = ["Berg", "Lind", "Öberg", "Holm", "Ek", "Nilsson", "Åberg", "Lund", "Sjö", "Hägg"]
ORGS = ['"Sala kommun; IT"', "Föreningen Digital Vardag", "Region Exempel", '"Bygg; Anläggning AB"']
SEGMENTS = ["kommun", "civilsamhälle", "annat", '"kommun, civilsamhälle"']


def generate(path: Path, rows: int) -> None:
    rng = random.Random(rows)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write("E-post;Förnamn;Efternamn;Organisation;Segment;Språk\r\n")
        for i in range(rows):
            if i % 100 == 99:
                address = f"trasig-adress-{i}"
            elif i % 200 == 50:
                address = f"Person.{i - 1}@Kommun{(i - 1) % 290}.se"  # repeats the previous row
            else:
                address = f"Person.{i}@Kommun{i % 290}.se"
            out.write(
                f"{address};{rng.choice(FIRST)};{rng.choice(LAST)};{rng.choice(ORGS)};"
                f"{rng.choice(SEGMENTS)};{'sv' if i % 7 else 'en'}\r\n"
            )


def run_import(workspace: Path, csv_file: Path) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MiB, summary) of one import in its own process."""
    code = (
        "import resource, sys\n"
        "from outreach.cli import cli\n"
        "try:\n"
        "    cli.main(sys.argv[1:], standalone_mode=False)\n"
        "finally:\n"
        "    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    print(f'PEAK_RSS_KB={rss}', file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, "-c", code, "-w", str(workspace), "subscriber", "import", str(csv_file)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    rss_kb = int(result.stderr.rsplit("PEAK_RSS_KB=", 1)[1].split()[0])
    return seconds, cpu, rss_kb / 1024, result.stdout.strip().splitlines()[-1]


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.1f} on {os.cpu_count()} cores")
    print(
        f"{'rows':>10}  {'run':10} {'wall s':>7} {'CPU s':>6} {'rows/s':>9} {'peak RSS':>9}  result"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            csv_file = Path(tmp) / f"subscribers-{rows}.csv"
            generate(csv_file, rows)
            workspace = Path(tmp) / f"ws-{rows}"
            subprocess.run(
                [sys.executable, "-m", "outreach", "init", str(workspace)],
                env={**os.environ, "PYTHONPATH": str(REPO)},
                capture_output=True,
                check=True,
            )
            for label in ("first", "re-import"):
                seconds, cpu, rss, summary = run_import(workspace, csv_file)
                print(
                    f"{rows:>10,}  {label:10} {seconds:7.1f} {cpu:6.1f} {rows / seconds:9,.0f} "
                    f"{rss:7.0f} MiB  {summary.split(': ', 1)[-1]}"
                )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
