"""Run the real `outreach serve` as a subprocess on a free local port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from .net import free_port

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_server(
    workspace_root: Path,
    env: Mapping[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 30.0,
    output: Path | None = None,
) -> Iterator[str]:
    """Start `python -m outreach -w ROOT serve --port N`; yield 'http://127.0.0.1:N'.

    `env` is added to the current environment (e.g. OUTREACH_MAIL_TRANSPORT, OUTREACH_SECRET_KEY).
    `[newsletter] public_url` is pointed at the server unless `env` sets it. The server's stdout
    and stderr go to `output` if given. It runs in its own process group, which is stopped whole:
    with --dev, Werkzeug's reloader serves from a child process.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    full_env.setdefault("OUTREACH_NEWSLETTER_PUBLIC_URL", base)
    full_env.update(env or {})
    args = [sys.executable, "-m", "outreach", "-w", str(workspace_root), "serve"]
    args += ["--host", "127.0.0.1", "--port", str(port), *extra_args]
    with output.open("w+b") if output else tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            args, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_until_up(base, process, log, timeout)
            yield base
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (the one we started), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_until_up(
    base: str, process: subprocess.Popen[bytes], log: object, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)  # type: ignore[attr-defined]
            output = log.read().decode(errors="replace")  # type: ignore[attr-defined]
            raise AssertionError(f"outreach serve exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(f"{base}/nyhetsbrev/", timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"outreach serve did not answer on {base} within {timeout} s")
