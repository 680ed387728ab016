"""Bounce mailbox benchmark: `fetch_bounces` over real IMAP (dovecot, as the tests start it).

Appends N bounce reports (a mix of Postfix DSNs, qmail notices and ARF complaints, each about one
of N subscribers' deliveries, with VERP return paths) and M out-of-office replies to a throw-away
dovecot, then times one `fetch_bounces`: messages/s, and that a second run moves nothing. Also
times building one VERP return path (the cost the send loop pays per message).

    .venv/bin/python benchmarks/bounces.py [--reports 500] [--others 50]

Needs root and Debian's dovecot-imapd (as `make test` installs it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
KEY = "benchmark-key-0123456789-abcdefghijklmnopqrstuvwxyz"
SAMPLES = REPO / "tests" / "fixtures" / "mail"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=500)
    parser.add_argument("--others", type=int, default=50)
    args = parser.parse_args()
    os.environ["OUTREACH_SECRET_KEY"] = KEY
    os.environ["OUTREACH_MAIL_BOUNCE_ADDRESS"] = "bounces@kraftsamling.se"

    from sqlalchemy import insert

    from outreach.db import session_scope
    from outreach.mail.bounces import fetch_bounces
    from outreach.mail.returnpath import return_path
    from outreach.models import Delivery, Edition, Subscriber, utcnow
    from outreach.workspace import init_workspace, open_workspace
    from tests.helpers.dovecot import PASSWORD, USER, Dovecot

    with Dovecot() as imap:
        os.environ.update(
            OUTREACH_MAIL_IMAP_HOST="127.0.0.1",
            OUTREACH_MAIL_IMAP_PORT=str(imap.port),
            OUTREACH_MAIL_IMAP_SECURITY="none",
            OUTREACH_MAIL_IMAP_USER=USER,
            OUTREACH_IMAP_PASSWORD=PASSWORD,
        )
        workspace = open_workspace(init_workspace(Path(tempfile.mkdtemp()) / "ws").root)
        now = utcnow()
        with session_scope(workspace) as session:
            edition = Edition(
                slug="2026-12-10", edition_date=now.date(), subject="x", status="sent"
            )
            session.add(edition)
            session.flush()
            session.execute(
                insert(Subscriber),
                [
                    {"email": f"p{i}@kommun.example", "status": "confirmed", "language": "sv"}
                    for i in range(args.reports)
                ],
            )
            session.execute(
                insert(Delivery),
                [
                    {
                        "edition_id": edition.id,
                        "subscriber_id": i + 1,
                        "status": "sent",
                        "attempts": 1,
                        "message_id": f"<m{i}@example.org>",
                        "sent_at": now,
                        "updated_at": now,
                    }
                    for i in range(args.reports)
                ],
            )
        kinds = ["dsn-postfix-hard.eml", "dsn-soft-message-id.eml", "arf-abuse.eml"]
        templates = [(SAMPLES / k).read_text(encoding="utf-8") for k in kinds]
        other = (SAMPLES / "auto-reply.eml").read_text(encoding="utf-8")
        client = imap.connect()
        started = time.perf_counter()
        for i in range(args.reports):
            verp = return_path(workspace, KEY, i + 1) or ""
            text = templates[i % 3].replace("%%VERP%%", verp)
            text = text.replace("%%MESSAGE_ID%%", f"<m{i}@example.org>")
            client.append("INBOX", None, None, text.replace("\n", "\r\n").encode())
        for i in range(args.others):
            text = other.replace("%%VERP%%", "x@y").replace("ooo-55aa", f"ooo-{i}")
            client.append("INBOX", None, None, text.replace("\n", "\r\n").encode())
        client.logout()
        print(
            f"appended {args.reports + args.others} messages in {time.perf_counter() - started:.1f} s"
        )

        started = time.perf_counter()
        with session_scope(workspace) as session:
            report = fetch_bounces(session, workspace)
        elapsed = time.perf_counter() - started
        print(
            f"fetch_bounces: {report.read} messages in {elapsed:.2f} s "
            f"({report.read / elapsed:.0f} messages/s); {report.counts}, left {report.left}"
        )
        started = time.perf_counter()
        with session_scope(workspace) as session:
            again = fetch_bounces(session, workspace)
        print(
            f"second run: read {again.read}, moved {again.moved} "
            f"in {time.perf_counter() - started:.2f} s"
        )
        n = 20_000
        seconds = timeit.timeit(lambda: return_path(workspace, KEY, 123_456), number=n)
        print(f"return_path: {seconds / n * 1e6:.1f} µs per message")
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
