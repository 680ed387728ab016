"""Send benchmark: 10,000 subscribers through the ledger to a local aiosmtpd sink.

Prints messages/second and peak RSS of `send_edition` (ledger, pool, per-recipient messages), and
the same figures for a bare smtplib loop that builds and sends the same messages with the same
MessageFactory (one connection, and as many connections as the pool), without the ledger.
Targets: ≥ 500 msg/s, ledger overhead (bare pool rate / ledger rate) ≤ 1.25×.

    .venv/bin/python benchmarks/send.py [--subscribers 10000] [--concurrency 4]

The sink runs in its own process for both sides (so it shares no GIL with a sender) and only
counts what it gets; the bare loop and the ledger run each run in a child process of their own.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SLUG = "2023-04-26"
KEY = "benchmark-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def serve(port: int) -> None:
    """The sink: aiosmtpd, counting messages (GET the count by sending 'COUNT' on stdin)."""
    from aiosmtpd.controller import Controller

    class Counting:
        count = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            Counting.count += len(envelope.rcpt_tos)
            return "250 2.0.0 Queued"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port, data_size_limit=None)
    controller.start()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "COUNT":
            print(Counting.count, flush=True)
    controller.stop()


class Sink:
    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"

    def count(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("COUNT\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


class PeakRss:
    """Samples this process's resident memory every 20 ms while running."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def __enter__(self) -> PeakRss:
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def setup(root: Path, count: int, url: str, concurrency: int) -> Any:
    os.environ.update(
        {
            "OUTREACH_SECRET_KEY": KEY,
            "OUTREACH_MAIL_TRANSPORT": url,
            "OUTREACH_MAIL_CONCURRENCY": str(concurrency),
        }
    )
    from sqlalchemy import insert

    from outreach.db import session_scope
    from outreach.models import Subscriber, utcnow
    from outreach.newsletter import compose, content
    from outreach.timeutil import zone
    from outreach.workspace import init_workspace, open_workspace

    init_workspace(root)
    (root / "newsletters" / SLUG).mkdir(parents=True)
    (root / "newsletters" / SLUG / "intro.md").write_text(
        (REPO / "newsletters" / SLUG / "intro.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (root / "newsletters" / SLUG / "intro.en.md").write_text(
        (REPO / "newsletters" / SLUG / "intro.en.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    workspace = open_workspace(root)
    with session_scope(workspace) as session:
        content.import_content(
            session, REPO / "newsletters" / "sample-content.yaml", zone("Europe/Stockholm")
        )
        now = utcnow()
        session.execute(
            insert(Subscriber),
            [
                {
                    "email": f"prenumerant{i}@kommun{i % 290}.example.se",
                    "name": f"Prenumerant {i}",
                    "segment": "kommun",
                    "language": "en" if i % 10 == 0 else "sv",
                    "status": "confirmed",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        )
        compose.compose_edition(session, workspace, SLUG)
    return workspace


def bare_child(root: Path, port: int, connections: int) -> None:
    """The baseline: the same messages built and sent by plain smtplib threads, no ledger.

    Timed like the ledger run: reading the edition and the subscribers, building every message
    (the same MessageFactory) and sending it; in its own process, like the ledger run.
    """
    from sqlalchemy import select

    from outreach.db import session_scope
    from outreach.mail.edition_mail import MessageFactory
    from outreach.mail.ledger import Addressee
    from outreach.models import Subscriber
    from outreach.newsletter.edition import load_edition
    from outreach.workspace import open_workspace

    workspace = open_workspace(root)
    with PeakRss() as rss:
        started = time.perf_counter()
        with session_scope(workspace) as session:
            edition = load_edition(session, workspace, SLUG)
            rows = session.execute(
                select(Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.language)
                .where(Subscriber.status == "confirmed")
                .order_by(Subscriber.id)
            ).all()
        factory = MessageFactory(workspace, edition, KEY)
        sender = factory.sender.addr_spec

        def one(chunk: list[Any]) -> None:
            with smtplib.SMTP("127.0.0.1", port) as smtp:
                for sid, email, name, language in chunk:
                    data = factory.build(Addressee(sid, email, name, language))
                    smtp.sendmail(sender, [email], data)

        threads = [
            threading.Thread(target=one, args=(rows[i::connections],)) for i in range(connections)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    label = f"bare smtplib loop, builds too, {connections} connection(s)"
    print(
        f"{label:44} {len(rows):>6} msgs in {elapsed:6.2f} s = {len(rows) / elapsed:7.0f}"
        f" msg/s, peak RSS {rss.peak / 2**20:5.0f} MiB"
    )


def run_child(*args: str) -> tuple[str, float]:
    """Run this script as a child (its own process and GIL); its line and its rate."""
    child = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True
    )
    line = child.stdout.strip()
    print(line, flush=True)
    return line, float(line.split("= ")[1].split()[0])


def ledger_child(root: Path) -> None:
    from outreach.mail.send import send_edition
    from outreach.workspace import open_workspace

    workspace = open_workspace(root)
    with PeakRss() as rss:
        started = time.perf_counter()
        report = send_edition(workspace, SLUG)
        elapsed = time.perf_counter() - started
    counts = report.counts
    assert counts["sent"] == counts.recipients and counts.balanced, counts.by_state
    # (not ru_maxrss: Linux carries the parent's high-water mark across fork + exec)
    peak = rss.peak / 2**20
    label = f"send_edition (ledger, pool of {workspace.settings.mail.concurrency})"
    print(
        f"{label:44} {counts['sent']:>6} msgs in {elapsed:6.2f} s = {counts['sent'] / elapsed:7.0f}"
        f" msg/s, peak RSS {peak:5.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ledger-child", help=argparse.SUPPRESS)
    parser.add_argument("--bare-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.ledger_child:
        ledger_child(Path(args.ledger_child))
        return
    if args.bare_child:
        root, port, connections = args.bare_child
        bare_child(Path(root), int(port), int(connections))
        return
    sink = Sink()
    url = f"smtp://127.0.0.1:{sink.port}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workspace = setup(Path(tmp) / "ws", args.subscribers, url, args.concurrency)
            load = os.getloadavg()[0]
            print(
                f"{args.subscribers} subscribers, concurrency {args.concurrency}, sink {url} "
                f"(own process), load average {load:.1f} on {os.cpu_count()} CPUs"
            )
            root, port, pool = str(workspace.root), str(sink.port), str(args.concurrency)
            # The machine may be shared: bare loops before and after the ledger run, mean of both.
            _, before = run_child("--bare-child", root, port, pool)
            _, ledger_rate = run_child("--ledger-child", root)
            _, after = run_child("--bare-child", root, port, pool)
            _, one_rate = run_child("--bare-child", root, port, "1")
            pool_rate = (before + after) / 2
            received = sink.count()
            assert received == 4 * args.subscribers, received
            print(f"the sink received {received}")
            print(
                f"ledger rate {ledger_rate:.0f} msg/s (target ≥ 500); overhead vs bare loop with "
                f"{args.concurrency} connections {pool_rate / ledger_rate:.2f}× (target ≤ 1.25×), "
                f"vs 1 connection {one_rate / ledger_rate:.2f}×"
            )
    finally:
        sink.close()


if __name__ == "__main__":
    main()
