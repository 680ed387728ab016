"""pytest fixtures around the helpers. Import them into a test module:

from helpers.fixtures import smtp_sink, browser  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from helpers.browser import CHROMIUM, browser_page
from helpers.smtp import SmtpSink


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
