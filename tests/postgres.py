"""A real, throw-away PostgreSQL server for tests (Debian's postgresql package).

Started once per test session in a temporary folder on a free port, as the `postgres` user when
the tests run as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if not found:
        raise RuntimeError(f"{name} not found: install Debian's postgresql (make test does)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL for a fresh database on a private server; stop it afterwards."""
    base = tempfile.mkdtemp(prefix="outreach-pg-")
    data = os.path.join(base, "data")
    port = _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*prefix, _bin("initdb"), "-D", data, "-U", "outreach", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            _bin("pg_ctl"),
            "-D",
            data,
            "-w",
            "-l",
            os.path.join(base, "log"),
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        for _ in range(50):
            probe = subprocess.run(
                [
                    _bin("psql"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "outreach",
                    "-d",
                    "postgres",
                    "-c",
                    "create database outreach_test",
                ],
                capture_output=True,
            )
            if probe.returncode == 0:
                break
            time.sleep(0.2)
        yield f"postgresql+psycopg://outreach@127.0.0.1:{port}/outreach_test"
    finally:
        subprocess.run(
            [*prefix, _bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)
