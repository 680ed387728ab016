"""The podcast pages in a real browser: `outreach serve` as a process and headless Chromium.

The player plays the fixture, the highlighted paragraph follows `currentTime`, time links, chapters
and `#t=` seek, the page scrolls only when the reader asked to follow along; axe-core finds nothing
at 375 and 1280 px; without JavaScript the page is still a working player and a readable transcript;
the exported static copy plays too; no request leaves the site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from outreach.workspace import Workspace

from .conftest import Runner
from .helpers.browser import CHROMIUM, CHROMIUM_ARGS, axe_violations
from .helpers.fixtures import browser, live_server, smtp_sink  # noqa: F401
from .helpers.site import publish, speech_mp3, static_host

pytestmark = pytest.mark.slow
CHAPTERS = (
    '{"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Intro"},'
    ' {"startTime": 6.3, "title": "Kommunerna"}]}'
)
AUDIO = "document.getElementById('player-audio')"
# The playing paragraph contains the current time (a paragraph stays lit up to 1 s past its end).
PLAYING_MATCHES_TIME = f"""() => {{
    const t = {AUDIO}.currentTime, turn = document.querySelector('.turn.playing');
    if (!turn) return false;
    const segments = turn.querySelectorAll('.segment');
    const start = parseFloat(segments[0].dataset.start);
    const end = parseFloat(segments[segments.length - 1].dataset.end);
    return start <= t && t <= end + 1;
}}"""


def current_time(page: Any) -> float:
    return float(page.evaluate(f"{AUDIO}.currentTime"))


def assert_accessible(page: Any, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    violations = axe_violations(page)
    assert violations == [], f"{page.url} at {width} px: {violations}"


@pytest.fixture
def episode_url(workspace: Workspace, live_server: str, tmp_path: Path) -> str:  # noqa: F811
    publish(workspace, "ai-i-kommunen", "AI i kommunen", audio=speech_mp3(tmp_path), number=1)
    publish(
        workspace,
        "kapitel",
        "Med kapitel",
        audio=speech_mp3(tmp_path),
        number=2,
        chapters=CHAPTERS,
    )
    return f"{live_server}/digitalsamtal/kapitel/"


def test_player_plays_follows_and_seeks(
    live_server: str,  # noqa: F811
    episode_url: str,
    browser: Any,  # noqa: F811
) -> None:
    page = browser
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(episode_url)
    page.wait_for_function(f"() => {AUDIO}.readyState >= 1")
    assert float(page.evaluate(f"{AUDIO}.duration")) > 10
    assert page.evaluate(f"{AUDIO}.textTracks[0].kind") == "captions"
    # player.js made the words of the JSON block clickable; the speed control appeared.
    assert page.locator(".segment .word").count() == 26
    assert page.locator("#speed").is_visible() and page.locator("#follow").is_visible()
    assert not page.locator("#follow").is_checked()

    # Clicking a time link seeks there and plays; the lit paragraph follows currentTime.
    page.locator(".turn").nth(1).locator("a.time").click()
    assert page.evaluate("location.hash") == "#t=0:02.2"
    page.wait_for_function(f"() => {AUDIO}.currentTime > 2.9 && !{AUDIO}.paused")
    page.wait_for_function(PLAYING_MATCHES_TIME)
    assert "intelligence" in page.locator(".turn.playing").inner_text()
    page.wait_for_selector(".word.current")
    page.wait_for_function(
        f"() => {AUDIO}.currentTime > 6.6"
    )  # it really plays, into the next turn
    page.wait_for_function(PLAYING_MATCHES_TIME)
    assert "municipalities" in page.locator(".turn.playing").inner_text()
    page.evaluate(f"{AUDIO}.pause()")

    # Chapters seek.
    page.get_by_role("link", name="0:00 Intro").click()
    page.wait_for_function(f"() => {AUDIO}.currentTime < 1")
    page.get_by_role("link", name="0:06 Kommunerna").click()
    page.wait_for_function(f"() => {AUDIO}.currentTime >= 6.29")
    page.evaluate(f"{AUDIO}.pause()")
    assert 6.29 <= current_time(page) < 8
    page.wait_for_function(PLAYING_MATCHES_TIME)

    # A word seeks to itself.
    word = page.locator(".word", has_text="Welcome")
    start = float(word.get_attribute("data-start") or "nan")
    word.click()
    page.wait_for_function(
        f"() => {AUDIO}.currentTime >= {start - 0.01} && {AUDIO}.currentTime < {start + 1.5}"
    )
    page.evaluate(f"{AUDIO}.pause()")
    page.select_option("#speed", "1.5")
    assert page.evaluate(f"{AUDIO}.playbackRate") == 1.5

    # A #t= address opens the episode at that position; changing the hash seeks again.
    page.goto("about:blank")
    page.goto(episode_url + "#t=0:08")
    page.wait_for_function(
        f"() => {AUDIO}.readyState >= 1 && Math.abs({AUDIO}.currentTime - 8) < 0.05"
    )
    assert page.evaluate(f"{AUDIO}.paused")  # opening a link does not start the sound
    page.evaluate("location.hash = '#t=3'")
    page.wait_for_function(f"() => Math.abs({AUDIO}.currentTime - 3) < 0.05")

    assert_accessible(page, 1280)
    assert_accessible(page, 375)
    page.goto(f"{live_server}/digitalsamtal/")
    assert page.locator(".episode-list li").count() == 2
    assert page.get_by_role("button", name="Kopiera adressen").is_visible()
    assert_accessible(page, 1280)
    assert_accessible(page, 375)
    assert errors == []
    outside = [url for url in requested if not url.startswith(live_server)]
    assert outside == []


def test_follow_along_scrolls_only_when_asked(
    episode_url: str,
    browser: Any,  # noqa: F811
) -> None:
    page = browser
    page.emulate_media(reduced_motion="reduce")
    page.set_viewport_size({"width": 375, "height": 420})
    page.goto(episode_url)
    page.wait_for_function(f"() => {AUDIO}.readyState >= 1")
    last = page.locator(".turn").nth(2)
    # Not asked: playing into a paragraph below the fold leaves the page where the reader put it.
    page.evaluate(f"{AUDIO}.currentTime = 6.0; {AUDIO}.play()")
    page.wait_for_function(f"() => {AUDIO}.currentTime > 6.8")
    page.evaluate(f"{AUDIO}.pause()")
    assert page.evaluate("window.scrollY") == 0
    assert "playing" in (last.get_attribute("class") or "")
    # Asked: the paragraph that starts playing is brought into view (at once: reduced motion).
    page.check("#follow")
    page.evaluate(f"{AUDIO}.currentTime = 0.5; {AUDIO}.play()")
    page.wait_for_function(f"() => {AUDIO}.currentTime > 0.7")
    page.evaluate(f"{AUDIO}.currentTime = 6.4")
    page.wait_for_function(f"() => {AUDIO}.currentTime > 6.6")
    page.evaluate(f"{AUDIO}.pause()")
    box = last.bounding_box()
    assert box is not None and 0 <= box["y"] < 420
    assert page.evaluate("window.scrollY") > 0


def test_pages_work_without_javascript(episode_url: str, live_server: str) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = chromium.new_context(locale="sv-SE", java_script_enabled=False).new_page()
            page.set_default_timeout(15_000)
            page.goto(episode_url)
            audio = page.locator("audio#player-audio")
            assert audio.is_visible() and audio.get_attribute("controls") is not None
            assert page.locator("track[kind=captions]").count() == 1
            assert (
                "Many municipalities want to start small"
                in page.locator(".transcript").inner_text()
            )
            assert page.locator(".chapters a").count() == 2
            assert page.locator("#speed").is_hidden() and page.locator("#follow").is_hidden()
            assert page.locator(".word").count() == 0  # text stays text
            assert page.get_by_role("link", name="Ljudet (MP3)").is_visible()
            page.goto(f"{live_server}/digitalsamtal/")
            assert page.locator("#feed-url").input_value().endswith("/feeds/podcast.xml")
            assert page.get_by_role("button", name="Kopiera adressen").is_hidden()
            page.get_by_role("link", name="2. Med kapitel").click()
            page.wait_for_url(episode_url)
        finally:
            chromium.close()


def test_exported_static_copy_plays(
    episode_url: str,
    run: Runner,
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    target = tmp_path / "static-site"
    run("export-site", str(target))
    page = browser
    with static_host(target) as base:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{base}digitalsamtal/kapitel/#t=0:06.3")
        page.wait_for_function(f"() => {AUDIO}.readyState >= 1")
        page.wait_for_function(f"() => Math.abs({AUDIO}.currentTime - 6.3) < 0.05")
        assert page.locator(".segment .word").count() == 26
        page.wait_for_function(PLAYING_MATCHES_TIME)
        assert all(url.startswith(base) for url in requested), requested
