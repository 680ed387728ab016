"""Guest review on a one-hour episode: page render time and size, a large submission, `review diff`.

A synthetic single-track transcript the size of a 60-minute conversation (~9,600 words in 640
segments), through the real app (Flask test client) and the real core, on a temporary workspace.

    .venv/bin/python benchmarks/review_page.py
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OUTREACH_SECRET_KEY", "benchmark-key-0123456789-abcdefghijklmnopqrstuvwxyz")

from outreach.db import session_scope  # noqa: E402
from outreach.models import Episode, Person  # noqa: E402
from outreach.podcast import transcripts  # noqa: E402
from outreach.review import merge, report, requests  # noqa: E402
from outreach.web import create_app  # noqa: E402
from outreach.workspace import init_workspace  # noqa: E402
from tests.helpers.site import (  # noqa: E402  (the same hour the site benchmark uses)
    HOUR_SEGMENTS,
    HOUR_WORDS_PER_SEGMENT,
    hour_segments,
)


def timed(label: str, runs: int, fn: object) -> float:
    """Median wall time (returned), printed with the median CPU time of this process (less
    sensitive to other load on the machine)."""
    times, cpu = [], []
    for _ in range(runs):
        began, began_cpu = time.perf_counter(), time.process_time()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    median = statistics.median(times)
    print(
        f"{label:<48} median {median * 1000:8.1f} ms wall, "
        f"{statistics.median(cpu) * 1000:6.1f} ms CPU over {runs} runs"
    )
    return median


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        workspace = init_workspace(Path(folder) / "ws")
        with session_scope(workspace) as session:
            episode = Episode(guid=str(uuid.uuid4()), slug="timme", title="En timme")
            session.add(episode)
            session.flush()
            for n in range(3):
                session.add(
                    Person(episode_id=episode.id, name=f"Gäst {n}", email=f"g{n}@example.se")
                )
            session.flush()
            session.refresh(episode)
            transcripts.create_version(
                session, episode, hour_segments(speakers=False, uncertain_word=7), author="whisper"
            )
        outcome = requests.request_reviews(workspace, os.environ["OUTREACH_SECRET_KEY"], "timme")
        print(f"review request: {len(outcome.sent)} mails written to the outbox")
        outbox = sorted((workspace.root / "newsletters" / "outbox").glob("*.eml"))
        text = outbox[0].read_text().replace("=\n", "")
        token = re.search(r"/granska/(\S+)", text).group(1)  # type: ignore[union-attr]
        client = create_app(workspace).test_client()

        html = client.get(f"/granska/{token}").get_data(as_text=True)
        print(
            f"review page: {HOUR_SEGMENTS} segments, {HOUR_SEGMENTS * HOUR_WORDS_PER_SEGMENT} words, "
            f"{len(html.encode()) / 1024:.0f} KiB HTML, {html.count('<textarea')} text fields"
        )
        timed("GET /granska/<token> (render)", 10, lambda: client.get(f"/granska/{token}"))

        segments = hour_segments(speakers=False, uncertain_word=7)
        timed(
            "retime_words, one edited word in every segment",
            5,
            lambda: [merge.retime_words(s, "ny " + s["text"][3:]) for s in segments],
        )

        fields = dict(re.findall(r'name="(text-\d+)"[^>]*>([^<]*)</textarea>', html))
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        for n in range(0, HOUR_SEGMENTS, 10):
            fields[f"text-{n}"] = "rättad text " + fields[f"text-{n}"]
        data = {"csrf_token": csrf, "base_version": "1", **fields}
        print(
            f"submission: {len(fields)} text fields, {sum(map(len, fields.values())) // 1024} KiB"
        )
        began = time.perf_counter()
        response = client.post(f"/granska/{token}", data=data)
        print(
            f"{'POST with 64 edited segments (new version)':<48} "
            f"{(time.perf_counter() - began) * 1000:8.1f} ms, status {response.status_code}"
        )
        with session_scope(workspace) as session:
            timed("review diff", 5, lambda: report.diff_report(session, "timme"))


if __name__ == "__main__":
    main()
