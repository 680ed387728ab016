"""Headless Debian Chromium driven by Playwright, and axe-core checks inside the page."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_JS = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"


@contextlib.contextmanager
def browser_page() -> Iterator[Any]:
    """A fresh Playwright Page in headless Chromium (Swedish locale)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(locale="sv-SE", java_script_enabled=True)
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield page
            context.close()
        finally:
            browser.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (from tests/node_modules) in the page; return its violations (want: [])."""
    if not AXE_JS.is_file():
        raise AssertionError(f"{AXE_JS} is missing: run `cd tests && npm install`")
    # evaluate() runs through the DevTools protocol, so the page's CSP (no inline script) does not
    # block it, unlike an injected <script> tag.
    page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.html)})); }"
    )
    return list(result)
