"""Guest review end to end in a real browser: `review request` mails a real aiosmtpd server, the guest
opens the link in headless Chromium against `outreach serve`, clicks a word (the audio seeks), edits a
segment, submits and approves; then the new version, its timings and `review status` are checked.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from outreach.db import session_scope
from outreach.models import Episode, ReviewRequest, Transcript
from outreach.podcast import transcripts
from outreach.review import merge as review
from outreach.workspace import Workspace

from .conftest import Runner
from .helpers.browser import axe_violations
from .helpers.fixtures import browser, live_server, smtp_sink  # noqa: F401
from .helpers.review import ANNA, BO, add_review_episode
from .helpers.smtp import SmtpSink

pytestmark = pytest.mark.slow
LINK = re.compile(r"(http://\S+/granska/\S+)")


def versions(workspace: Workspace) -> list[Transcript]:
    with session_scope(workspace) as s:
        episode = s.scalar(select(Episode).where(Episode.slug == "samtal-1"))
        assert episode is not None
        return transcripts.list_versions(s, episode)


def guest_status(run: Runner, address: str) -> list[str]:
    status = run("review", "status", "samtal-1").output
    return next(line for line in status.splitlines() if address in line).split("\t")


def link_for(sink: SmtpSink, address: str) -> str:
    for message in sink.wait_for(2):
        if message["To"].addresses[0].addr_spec == address:
            body = message.get_body(("plain",))
            assert body is not None
            match = LINK.search(body.get_content())
            assert match
            return match.group(1)
    raise AssertionError(f"no mail to {address}")


def test_guest_reviews_in_a_real_browser(
    workspace: Workspace,
    run: Runner,
    monkeypatch: pytest.MonkeyPatch,
    smtp_sink: SmtpSink,  # noqa: F811
    live_server: str,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    add_review_episode(workspace)
    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", smtp_sink.url)
    monkeypatch.setenv("OUTREACH_NEWSLETTER_PUBLIC_URL", live_server)
    run("review", "request", "samtal-1")
    link = link_for(smtp_sink, ANNA[1])
    assert link.startswith(f"{live_server}/granska/")

    page = browser
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(link)
    assert page.locator("html").get_attribute("lang") == "sv"
    assert page.evaluate("document.documentElement.classList.contains('js')")
    page.wait_for_function("document.getElementById('review-audio').readyState >= 1")
    assert page.evaluate("document.getElementById('review-audio').duration") > 10
    violations = axe_violations(page)
    assert violations == [], violations

    # Click a word: the audio seeks to it and the word is highlighted.
    word = page.locator(".word", has_text="intelligence")
    start = float(word.get_attribute("data-start") or "nan")
    assert page.evaluate("document.getElementById('review-audio').currentTime") < 1
    word.click()
    page.wait_for_function(f"document.getElementById('review-audio').currentTime >= {start - 0.05}")
    page.evaluate("document.getElementById('review-audio').pause()")
    now = page.evaluate("document.getElementById('review-audio').currentTime")
    assert start - 0.05 <= now < start + 2
    page.wait_for_selector(".word.current")
    current = float(page.locator(".word.current").first.get_attribute("data-start") or "nan")
    assert start - 0.01 <= current <= now + 0.01
    assert page.locator(".word.uncertain", has_text="municipalities").count() == 1
    page.select_option("#speed", "1.5")
    assert page.evaluate("document.getElementById('review-audio').playbackRate") == 1.5

    # Edit Anna's segment (the edit fields open on demand), submit, then approve.
    assert page.locator("#text-0").is_hidden()
    toggle = page.locator(".turn").first.get_by_role("button", name="Rätta texten")
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    page.fill("#text-0", "Welcome to the Digitalsamtal podcast.")
    assert page.locator("#text-1").count() == 0  # Bo's segment is not hers to edit
    violations = axe_violations(page)
    assert violations == [], violations
    page.get_by_role("button", name="Skicka ändringar").click()
    page.wait_for_url(re.compile(r"klart=sparat"))
    assert "Dina ändringar är sparade" in page.locator("[role=status]").inner_text()
    assert page.locator(".word", has_text="Digitalsamtal").count() == 1
    page.get_by_role("button", name="Godkänn").click()
    page.wait_for_url(re.compile(r"klart=godkant"))
    assert "godkänt" in page.locator("[role=status]").inner_text()
    assert errors == []
    v1, v2 = versions(workspace)
    assert v2.parent_id == v1.id and v2.author == ANNA[1]
    old, new = v1.segments[0]["words"], v2.segments[0]["words"]
    assert [w["word"] for w in new] == ["Welcome", "to", "the", "Digitalsamtal", "podcast."]
    assert new[:3] == old[:3]  # unchanged words keep their timings
    assert new[4]["start"] == old[3]["start"] and new[4]["end"] == old[3]["end"]
    assert old[2]["end"] <= new[3]["start"] < new[3]["end"] <= old[3]["start"]
    assert new[3]["probability"] == 1.0
    anna = guest_status(run, ANNA[1])
    assert anna[2] == "approved" and anna[5] != "-" and anna[7] == "1"

    # Bo saves the shared segment 2 meanwhile; Anna's edit of it comes back as a conflict page.
    with session_scope(workspace) as s:
        bo = next(r for r in s.scalars(select(ReviewRequest)) if r.person_id == 2)
        review.submit_review(s, workspace, bo, base_version=2, texts={2: "Bo's version."})
    page.locator(".turn").nth(2).get_by_role("button", name="Rätta texten").click()
    page.fill("#text-2", "Anna's version.")
    page.get_by_role("button", name="Skicka ändringar").click()
    page.wait_for_selector("[role=alert]")
    assert page.input_value("#text-2") == "Anna's version."
    assert page.locator("#text-2").is_visible()  # edit fields open after a conflict
    violations = axe_violations(page)
    assert violations == [], violations
    assert errors == []
    # Leaving with unsent text asks first.
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.fill("#comment", "Inte skickat än.")
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
    anna = guest_status(run, ANNA[1])
    assert anna[2] == "changes suggested" and anna[8] == "1"  # the conflict is counted


def test_plain_form_without_javascript_and_a_conflict(
    workspace: Workspace,
    run: Runner,
    monkeypatch: pytest.MonkeyPatch,
    smtp_sink: SmtpSink,  # noqa: F811
    live_server: str,  # noqa: F811
) -> None:
    from playwright.sync_api import sync_playwright

    from .helpers.browser import CHROMIUM, CHROMIUM_ARGS

    add_review_episode(workspace)
    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", smtp_sink.url)
    monkeypatch.setenv("OUTREACH_NEWSLETTER_PUBLIC_URL", live_server)
    run("review", "request", "samtal-1")
    link = link_for(smtp_sink, BO[1])
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = chromium.new_context(locale="sv-SE", java_script_enabled=False).new_page()
            page.set_default_timeout(15_000)
            page.goto(link)
            # Without JavaScript every edit field is open and the speed control is not offered.
            assert page.locator("#text-1").is_visible() and page.locator("#text-2").is_visible()
            assert page.locator("#speed").is_hidden()
            # Meanwhile Anna saves her version of the shared, unlabelled segment 2.
            with session_scope(workspace) as s:
                request = next(r for r in s.scalars(select(ReviewRequest)) if r.person_id == 1)
                review.submit_review(
                    s, workspace, request, base_version=1, texts={2: "Anna's version."}
                )
            page.fill("#text-2", "Bo's version.")
            page.fill("#comment", "Jag sa så här.")
            page.get_by_role("button", name="Skicka ändringar").click()
            page.wait_for_selector("[role=alert]")
            assert (
                "Någon annan har ändrat samma ställen" in page.locator("[role=alert]").inner_text()
            )
            assert page.input_value("#text-2") == "Bo's version."
            assert page.input_value("#comment") == "Jag sa så här."
            # (axe-core cannot run in a page without JavaScript: the JS test checks this page.)
            page.get_by_role("button", name="Skicka ändringar").click()
            page.wait_for_url(re.compile(r"klart=sparat"))
        finally:
            chromium.close()
    latest = versions(workspace)[-1]
    assert latest.version == 3 and latest.author == BO[1]
    assert latest.segments[2]["text"] == "Bo's version."
    assert "CONFLICT" in run("review", "diff", "samtal-1").output
