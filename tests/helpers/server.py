"""Run the real `outreach serve` as a subprocess on a free local port."""

from __future__ import annotations

import contextlib
import os
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
) -> Iterator[str]:
    """Start `python -m outreach -w ROOT serve --port N`; yield 'http://127.0.0.1:N'.

    `env` is added to the current environment (e.g. OUTREACH_MAIL_TRANSPORT, OUTREACH_SECRET_KEY).
    `[newsletter] public_url` is pointed at the server unless `env` sets it.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    full_env.setdefault("OUTREACH_NEWSLETTER_PUBLIC_URL", base)
    full_env.update(env or {})
    args = [sys.executable, "-m", "outreach", "-w", str(workspace_root), "serve"]
    args += ["--host", "127.0.0.1", "--port", str(port), *extra_args]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(args, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(base, process, log, timeout)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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
