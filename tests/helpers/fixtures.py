"""pytest fixtures around the helpers. Import them into a test module:

from .fixtures import smtp_sink, browser  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .browser import CHROMIUM, browser_page
from .server import running_server
from .smtp import SmtpSink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server on a free port; point `OUTREACH_MAIL_TRANSPORT` at `smtp_sink.url`."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def browser() -> Iterator[Any]:
    """A Playwright Page in headless /usr/bin/chromium (skips if chromium is not installed)."""
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with browser_page() as page:
        yield page


@pytest.fixture
def live_server(workspace: Any, smtp_sink: SmtpSink) -> Iterator[str]:
    """`outreach serve` on the test workspace, mailing into `smtp_sink`; yields its base URL.

    The signing key is the test key from tests/conftest.py (already in the environment), and
    `[newsletter] public_url` points at the server.
    """
    env = {
        "OUTREACH_MAIL_TRANSPORT": smtp_sink.url,
        # The server's queue worker sends confirmation and welcome mails; poll often in tests.
        "OUTREACH_SUBSCRIBERS_QUEUE_POLL_SECONDS": "0.5",
    }
    with running_server(workspace.root, env=env) as base:
        yield base
