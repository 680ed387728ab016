"""The workspace's send lock: one send (or scheduled run) at a time.

An OS file lock (filelock → flock), which the kernel releases when the process dies, so a crash
never leaves a stale lock behind. A small `.info` file next to it names the holder for the message
another sender gets.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from filelock import FileLock, Timeout

from outreach.errors import MailError
from outreach.workspace import Workspace

LOCK_FILE = ".outreach-send.lock"


class SendBusyError(MailError):
    """Another send (or `run-due`) holds the workspace's send lock."""


@contextmanager
def send_lock(workspace: Workspace, slug: str) -> Iterator[None]:
    """Hold the workspace's send lock, or refuse at once if another send holds it."""
    path = workspace.root / LOCK_FILE
    info = path.with_name(path.name + ".info")
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = ""
        with suppress(OSError):
            holder = info.read_text(encoding="utf-8").strip()
        raise SendBusyError(
            "another 'newsletter send' is running in this workspace"
            + (f" ({holder})" if holder else "")
            + "; wait for it to finish (only one send at a time)"
        ) from None
    try:
        info.write_text(
            f"{slug}, pid {os.getpid()}, since {dt.datetime.now().astimezone():%Y-%m-%d %H:%M}",
            encoding="utf-8",
        )
        yield
    finally:
        lock.release()
