"""`outreach serve`: waitress against Werkzeug's development server (`--dev`), in one run.

waitress runs twice: with the default `[web] threads` and with one thread per client, because
on a shared machine the kernel hands out CPU time per runnable thread, and Werkzeug's server has a
thread per connection.

Each server runs as the real command in its own process on a temporary workspace; 50 client
threads (each with its own keep-alive connection) hammer one kind of request for a fixed time:
the podcast feed, a 64 KiB Range request at a random offset of a 20 MB MP3, and subscribe POSTs
(CSRF token and cookie fetched once per client, a new address per POST, the confirmation mail
written to the outbox). Prints requests/s, median and p95 latency and failures per server.

    .venv/bin/python benchmarks/serve.py [--clients 50] [--seconds 8]

The client threads share the machine with the server, so the figures are a floor; on a shared
machine other work moves them too (the load average is printed before and after).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from outreach.db import session_scope  # noqa: E402
from outreach.models import Episode  # noqa: E402
from outreach.workspace import WebSettings, init_workspace  # noqa: E402

KEY = "benchmark-key-0123456789-abcdefghijklmnopqrstuvwxyz"
MP3_BYTES = 20_000_000
RANGE_BYTES = 65_536
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_workspace(root: Path) -> Path:
    workspace = init_workspace(root / "ws")
    folder = workspace.episodes_dir / "avsnitt-1"
    folder.mkdir(parents=True)
    (folder / "avsnitt-1.mp3").write_bytes(os.urandom(MP3_BYTES))
    items = "".join(
        f"<item><title>Avsnitt {i}</title><guid>{uuid.uuid4()}</guid>"
        f"<description>{'Samtal om AI i kommunen. ' * 20}</description></item>"
        for i in range(100)
    )
    (workspace.feeds_dir / "podcast.xml").write_text(f"<rss><channel>{items}</channel></rss>")
    with session_scope(workspace) as session:
        session.add(
            Episode(
                guid=str(uuid.uuid4()),
                slug="avsnitt-1",
                title="Avsnitt 1",
                status="published",
                audio="episodes/avsnitt-1/avsnitt-1.mp3",
            )
        )
    return workspace.root


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(root: Path, dev: bool, threads: int = WebSettings.threads) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OUTREACH_SECRET_KEY": KEY,
        "OUTREACH_NEWSLETTER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "OUTREACH_WEB_THREADS": str(threads),
        # 50 clients from one address measure the server, not the per-client sign-up limit (a
        # real form sees one person at a time); the limit itself is tested in the web tests.
        "OUTREACH_SUBSCRIBERS_SUBSCRIBE_LIMIT_PER_CLIENT": "1000000 per minute",
        "OUTREACH_SUBSCRIBERS_SUBSCRIBE_LIMIT_PER_ADDRESS": "1000000 per minute",
    }
    args = [sys.executable, "-m", "outreach", "-w", str(root), "serve", "--port", str(port)]
    process = subprocess.Popen(
        args + (["--dev"] if dev else []),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # --dev serves from a reloader child: stop the whole group
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/feeds/podcast.xml")
                connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("the server did not start")
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""
        self.csrf = ""

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, bytes]:
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
            if response.getheader("Set-Cookie"):
                self.cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
            if response.getheader("Connection", "").lower() == "close":
                self.connection.close()
            return response.status, data
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return 0, b""


def feed(client: Client) -> bool:
    status, body = client.request("GET", "/feeds/podcast.xml", {})
    return status == 200 and body.startswith(b"<rss>")


def ranged(client: Client) -> bool:
    start = random.randrange(0, MP3_BYTES - RANGE_BYTES)
    header = {"Range": f"bytes={start}-{start + RANGE_BYTES - 1}"}
    status, body = client.request("GET", "/episodes/avsnitt-1/avsnitt-1.mp3", header)
    return status == 206 and len(body) == RANGE_BYTES


def subscribe(client: Client) -> bool:
    if not client.csrf:
        status, page = client.request("GET", "/prenumerera", {})
        match = CSRF.search(page.decode())
        if status != 200 or not match:
            return False
        client.csrf = match.group(1)
    form = {
        "csrf_token": client.csrf,
        "email": f"b{uuid.uuid4().hex[:12]}@example.se",
        "name": "Anna",
        "organisation": "Umeå kommun",
        "segment": "kommun",
        "language": "sv",
    }
    headers = {"Cookie": client.cookie, "Content-Type": "application/x-www-form-urlencoded"}
    status, _ = client.request(
        "POST", "/prenumerera", headers, urllib.parse.urlencode(form).encode()
    )
    return status == 303


def load(
    port: int, work: Callable[[Client], bool], clients: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    start_line = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def run() -> None:
        client = Client(port)
        mine: list[float] = []
        failed = 0
        start_line.wait()
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            ok = work(client)
            mine.append(time.perf_counter() - began)
            failed += not ok
        with lock:
            latencies.extend(mine)
            failures[0] += failed

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start_line.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p95": latencies[int(len(latencies) * 0.95)] * 1000 if latencies else 0.0,
        "failures": failures[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    options = parser.parse_args()
    scenarios = [("feed GET", feed), ("MP3 Range 64 KiB", ranged), ("subscribe POST", subscribe)]
    print(
        f"{os.cpu_count()} cores, shared with other work; load average before: "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(f"{options.clients} concurrent clients, {options.seconds:g} s per scenario\n")
    print(
        f"{'server':<22} {'scenario':<18} {'requests':>8} {'req/s':>7} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'failed':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp))
        # All servers stay up (an idle one costs nothing); each scenario runs on one right after
        # the other, so a change in the machine's load hits them alike.
        with (
            server(root, dev=False) as default_port,
            server(root, dev=False, threads=options.clients) as many_port,
            server(root, dev=True) as werkzeug_port,
        ):
            servers = [
                (f"waitress, {WebSettings.threads} threads", default_port),
                (f"waitress, {options.clients} threads", many_port),
                ("Werkzeug (--dev)", werkzeug_port),
            ]
            for name, work in scenarios:
                for label, port in servers:
                    load(port, work, options.clients, 1.0)  # warm up
                    r = load(port, work, options.clients, options.seconds)
                    print(
                        f"{label:<22} {name:<18} {r['requests']:>8.0f} {r['rate']:>7.0f} "
                        f"{r['p50']:>7.1f} {r['p95']:>7.1f} {r['failures']:>6.0f}",
                        flush=True,
                    )
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
