"""Import a generated feed of 10,000 and 100,000 items and print time and peak memory
(targets for 100,000: ≤ 60 s and ≤ 300 MB; growth should be linear).

Each item looks like a real one (about 1.1 KB: HTML notes, enclosure, duration, numbers, a
transcript, chapters, a person and a link), so the 100,000-item feed is about 115 MB. Every size
runs `outreach episode import-feed --keep-settings` in a fresh process on a fresh workspace, so
the peak resident memory printed is that import's own. Run:
`.venv/bin/python benchmarks/import_feed.py [ITEMS ...]` (default 10000 100000).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 60.0
TARGET_MB = 300.0

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
     xmlns:podcast="https://podcastindex.org/namespace/1.0"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
<title>Benchmark Show</title>
<description>A generated show.</description>
<language>en</language>
<itunes:image href="https://old.example/art.jpg"/>
<itunes:category text="Technology"/>
<podcast:guid>9b024349-ccf0-5f69-a609-6b82873eab3c</podcast:guid>
"""
ITEM = """<item>
<title>Episode {n}: talking about things &amp; more things</title>
<link>https://old.example/episodes/{n}</link>
<guid isPermaLink="false">bench-{n}</guid>
<pubDate>Wed, 26 Apr 2023 08:00:00 +0000</pubDate>
<description><![CDATA[<p>In episode {n} we talk about <b>public sector AI</b>, procurement and
what municipalities learned this year.</p><ul><li>First topic</li><li>Second topic</li>
<li>Third topic with <a href="https://old.example/links/{n}">a link</a></li></ul>
<p>Guests: Anna Andersson, Bertil Berg. Music by Cecilia.</p>]]></description>
<enclosure url="https://cdn.old.example/audio/episode-{n}.mp3" length="{length}" type="audio/mpeg"/>
<itunes:duration>{duration}</itunes:duration>
<itunes:episode>{n}</itunes:episode>
<itunes:explicit>false</itunes:explicit>
<podcast:transcript url="https://old.example/t/{n}.vtt" type="text/vtt" language="en"/>
<podcast:chapters url="https://old.example/c/{n}.json" type="application/json+chapters"/>
<podcast:person role="guest">Anna Andersson</podcast:person>
</item>
"""


def write_feed(path: Path, items: int) -> int:
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEAD)
        for n in range(1, items + 1):
            out.write(ITEM.format(n=n, length=20_000_000 + n, duration=1800 + n % 1800))
        out.write("</channel>\n</rss>\n")
    return path.stat().st_size


def run_one(items: int) -> dict[str, float]:
    """In this process: generate, import through the real CLI, report time and peak RSS."""
    from click.testing import CliRunner

    from outreach.cli import cli
    from outreach.workspace import init_workspace

    with tempfile.TemporaryDirectory() as folder:
        feed = Path(folder) / "feed.xml"
        size = write_feed(feed, items)
        workspace = init_workspace(Path(folder) / "ws")
        started = time.perf_counter()
        cpu_started = time.process_time()
        result = CliRunner().invoke(
            cli,
            [
                "--workspace",
                str(workspace.root),
                "episode",
                "import-feed",
                "--keep-settings",
                str(feed),
            ],
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        if result.exit_code != 0 or f"Imported {items} new episode(s)" not in result.output:
            raise SystemExit(f"import failed: {result.output[-500:]}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "items": items,
        "feed_mb": size / 1024**2,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "peak_mb": peak_mb,
    }


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps(run_one(int(argv[1]))))
        return
    sizes = [int(a) for a in argv] or [10_000, 100_000]
    # The machine is shared: the load average says how much of it this run had.
    print(f"import-feed on {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}")
    rows = []
    for items in sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(items)],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(child.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{row['items']:>8,} items ({row['feed_mb']:6.1f} MB feed): {row['seconds']:6.1f} s "
            f"wall, {row['cpu_seconds']:6.1f} s CPU, {row['items'] / row['cpu_seconds']:6.0f} "
            f"items per CPU second, peak RSS {row['peak_mb']:5.0f} MB"
        )
    largest = rows[-1]
    for label, seconds in (("wall", largest["seconds"]), ("CPU", largest["cpu_seconds"])):
        ok = seconds <= TARGET_SECONDS and largest["peak_mb"] <= TARGET_MB
        print(
            f"target for {largest['items']:,} items (≤ {TARGET_SECONDS:.0f} s, "
            f"≤ {TARGET_MB:.0f} MB), by {label} time: " + ("met" if ok else "NOT met")
        )
    if len(rows) > 1:
        first = rows[0]
        ratio = (largest["cpu_seconds"] / first["cpu_seconds"]) / (
            largest["items"] / first["items"]
        )
        print(
            f"growth: CPU time per item at {largest['items']:,} is {ratio:.2f}× that at "
            f"{first['items']:,} (1.00 = linear)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
