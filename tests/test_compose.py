"""Composing an edition: selection, Swedish dates, MJML rendered once, refusals, templates."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from outreach.db import session_scope
from outreach.errors import ComposeError
from outreach.models import Edition
from outreach.newsletter import compose, content, intro, personalize, render
from outreach.newsletter import select as selection
from outreach.timeutil import zone
from outreach.workspace import Workspace

from .conftest import REPO, Runner

SLUG = "2023-04-26"
TZ = ZoneInfo("Europe/Stockholm")


def test_swedish_and_english_dates() -> None:
    assert render.format_day(dt.date(2023, 5, 11)) == "11 maj 2023"
    assert render.format_day(dt.date(2023, 9, 12)) == "12 september 2023"
    assert render.format_day(dt.date(2023, 5, 11), "en") == "11 May 2023"
    start = dt.datetime(2023, 5, 4, 10, 0, tzinfo=TZ)
    assert render.format_when(start, start.replace(hour=12), TZ) == "4 maj 2023, kl. 10–12"
    assert (
        render.format_when(start.replace(hour=9, minute=30), start.replace(hour=16), TZ)
        == "4 maj 2023, kl. 9.30–16"
    )
    utc = start.astimezone(dt.UTC)  # stored in UTC, shown in Stockholm time
    assert render.format_when(utc, None, TZ) == "4 maj 2023, kl. 10"
    assert (
        render.format_when(start, start + dt.timedelta(days=1), TZ)
        == "4 maj 2023, kl. 10 – 5 maj 2023, kl. 10"
    )
    assert render.format_when(start, start.replace(hour=12), TZ, "en") == "4 May 2023, 10:00–12:00"


@pytest.fixture
def sample(workspace: Workspace, run: Runner) -> Workspace:
    run("content", "import", str(REPO / "newsletters" / "sample-content.yaml"))
    folder = workspace.newsletters_dir / SLUG
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "intro.md").write_text(
        (REPO / "newsletters" / SLUG / "intro.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (folder / "intro.en.md").write_text(
        (REPO / "newsletters" / SLUG / "intro.en.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return workspace


def test_selection_for_the_edition_date(sample: Workspace) -> None:
    tz = zone("Europe/Stockholm")
    with session_scope(sample) as session:
        for values in (
            {"title": "Stängd", "opens": "2023-01-01", "closes": "2023-04-25"},
            {"title": "Långt fram", "opens": "2023-08-01", "closes": "2023-12-01"},
            {"title": "Löpande", "opens": "2023-01-01"},
        ):
            content.add_item(session, "call", values, tz)
        content.add_item(
            session,
            "event",
            {"title": "För sent", "starts": "2023-07-01 10:00", "location": "Umeå"},
            tz,
        )
        content.add_item(
            session,
            "event",
            {"title": "I går", "starts": "2023-04-25 10:00", "location": "Umeå"},
            tz,
        )
        selected = selection.select_content(session, sample, SLUG, dt.date(2023, 4, 26))
    # Open or opening within 30 days, sorted by the last day to apply; rolling calls last.
    assert [c.title for c in selected.calls] == [
        "Uppskalning av AI-lösningar hos kommuner och civilsamhälle",
        "Starta er AI-resa",
        "Löpande",
    ]
    assert [c.is_open for c in selected.calls] == [True, False, True]
    assert [e.title for e in selected.events] == [
        "Inspirationsevent: AI för smartare samhällsbyggnad",
        "Hackaton med Atea och Microsoft: från idé till prototyp för välfärden",
    ]
    assert [r.day for r in selected.recordings] == [dt.date(2023, 1, 18), dt.date(2023, 3, 29)]

    # After an edition has gone out, only what is newer than it counts as new.
    with session_scope(sample) as session:
        session.add(
            Edition(slug="2023-02-01", edition_date=dt.date(2023, 2, 1), subject="x", status="sent")
        )
    with session_scope(sample) as session:
        later = selection.select_content(session, sample, SLUG, dt.date(2023, 4, 26))
    assert later.previous_date == dt.date(2023, 2, 1)
    assert [r.day for r in later.recordings] == [dt.date(2023, 3, 29)]


def test_compose_renders_mjml_once_and_sends_without_mjml(
    sample: Workspace, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mjml

    calls: list[int] = []
    real = mjml.mjml2html

    def counting(source: str, **kwargs: object) -> str:
        calls.append(len(source))
        return real(source, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mjml, "mjml2html", counting)
    for i in range(12):
        run(
            "subscriber",
            "add",
            f"p{i}@example.se",
            "--confirmed",
            "--language",
            "en" if i % 3 == 0 else "sv",
        )
    result = run("newsletter", "compose", SLUG)
    assert "2 call(s), 2 event(s), 2 recording(s), 0 episode(s)" in result.output
    # Once per language (sv, en) and once for the archive page: never per recipient.
    assert len(calls) == 3
    folder = sample.newsletters_dir / SLUG
    for name in ("email.mjml", "email.html", "email.txt", "index.html", "email.en.html"):
        assert (folder / name).is_file(), name
    run("newsletter", "send", SLUG, "--yes")
    assert len(calls) == 3
    outbox = sorted((sample.root / "newsletters" / "outbox").glob("*.eml"))
    assert len(outbox) == 12


def test_outputs_text_archive_and_placeholders(sample: Workspace, run: Runner) -> None:
    run("newsletter", "compose", SLUG)
    folder = sample.newsletters_dir / SLUG
    html_text = (folder / "email.html").read_text(encoding="utf-8")
    text = (folder / "email.txt").read_text(encoding="utf-8")
    archive = (folder / "index.html").read_text(encoding="utf-8")
    manifest = json.loads((folder / "edition.json").read_text(encoding="utf-8"))
    assert (
        manifest["subjects"]["sv"] == "Kraftsamlingen: två utlysningar från Vinnova och event i maj"
    )
    assert (
        "Sista ansökningsdag: 11 maj 2023" in text
        and "Sista ansökningsdag: 12 september 2023" in text
    )
    assert text.index("11 maj 2023") < text.index("12 september 2023")  # sorted by deadline
    assert "4 maj 2023, kl. 10–12 · Online" in text
    assert "<strong>Kraftsamling" in html_text  # the intro's Markdown, rendered
    assert 'href="@@unsubscribe_url@@"' in html_text and "@@unsubscribe_url@@" in text
    assert all(len(line) <= 80 or "http" in line for line in text.splitlines())
    assert "@@" not in archive and "/u/" not in archive and "Prenumerera" in archive
    assert (folder / "index.html").stat().st_mode & 0o044 == 0o044  # readable by a web server
    # The edition row is recorded for send and the archive.
    with session_scope(sample) as session:
        edition = session.scalar(select(Edition).where(Edition.slug == SLUG))
        assert edition is not None and edition.status == "composed"


def test_personalize_escapes_html() -> None:
    recipient = personalize.Recipient('Eva <b>"&', "eva@example.se", "https://x/u/a?b=1&c=2")
    template = '<p>@@greeting@@ @@name@@</p><a href="@@unsubscribe_url@@">x</a>'
    filled = personalize.personalize(template, recipient, "sv", is_html=True)
    assert filled == (
        '<p>Hej Eva! Eva &lt;b&gt;&quot;&amp;</p><a href="https://x/u/a?b=1&amp;c=2">x</a>'
    )
    nameless = personalize.Recipient(None, "a@example.se", "https://x/u/a")
    assert personalize.personalize("@@greeting@@", nameless, "en", is_html=False) == "Hello,"


def test_refuses_html_gmail_would_clip(
    sample: Workspace, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_NEWSLETTER_MAX_HTML_BYTES", "8000")
    result = run("newsletter", "compose", SLUG, expect=1)
    assert "Gmail clips" in result.stderr and "Traceback" not in result.output
    assert not (sample.newsletters_dir / SLUG / "email.html").exists()  # nothing half-written


def _override(workspace: Workspace, name: str, transform: object) -> None:
    source = (render.PACKAGE_TEMPLATES / name).read_text(encoding="utf-8")
    (workspace.templates_dir / name).write_text(transform(source), encoding="utf-8")  # type: ignore[operator]


def test_refuses_template_without_unsubscribe_link(sample: Workspace, run: Runner) -> None:
    _override(
        sample,
        "layout.mjml.j2",
        lambda s: s.replace(
            '<a href="{{ recipient.unsubscribe_url }}">{{ t.unsubscribe }}</a>', ""
        ),
    )
    result = run("newsletter", "compose", SLUG, expect=1)
    assert "no unsubscribe link" in result.stderr


def test_refuses_mjml_errors(sample: Workspace, run: Runner) -> None:
    _override(sample, "layout.mjml.j2", lambda s: s.replace("</mj-body>", ""))
    assert "MJML error" in run("newsletter", "compose", SLUG, expect=1).stderr
    _override(sample, "layout.mjml.j2", lambda s: s.replace("<mj-text><h2>", "<mj-txt><h2>", 1))
    assert "MJML error" in run("newsletter", "compose", SLUG, expect=1).stderr


def test_workspace_templates_override_defaults(sample: Workspace, run: Runner) -> None:
    _override(
        sample,
        "newsletter.sv.mjml.j2",
        lambda s: s.replace('"calls": "Utlysningar"', '"calls": "Pengar att söka"'),
    )
    run("newsletter", "compose", SLUG)
    html_text = (sample.newsletters_dir / SLUG / "email.html").read_text(encoding="utf-8")
    assert "Pengar att söka" in html_text
    english = (sample.newsletters_dir / SLUG / "email.en.html").read_text(encoding="utf-8")
    assert "Funding calls" in english and "Last day to apply: 11 May 2023" in english


def test_sent_edition_is_frozen(sample: Workspace, run: Runner) -> None:
    run("newsletter", "compose", SLUG)
    with session_scope(sample) as session:
        edition = session.scalar(select(Edition).where(Edition.slug == SLUG))
        assert edition is not None
        edition.status = "sent"
    assert "no longer be composed" in run("newsletter", "compose", SLUG, expect=1).stderr


def test_markdown_text_part() -> None:
    tokens = intro._markdown.parse(
        "Se [webbinariet](https://example.org/w) i dag.\n\n- ett\n- två\n\n**Fet** text."
    )
    assert intro.markdown_to_text(tokens) == (
        "Se webbinariet (https://example.org/w) i dag.\n\n- ett\n\n- två\n\nFet text."
    )


def test_template_syntax_error_names_file_and_line(sample: Workspace) -> None:
    (sample.templates_dir / "layout.mjml.j2").write_text("<mjml>\n{% if %}", encoding="utf-8")
    with (
        session_scope(sample) as session,
        pytest.raises(ComposeError, match="layout.mjml.j2, line 2"),
    ):
        compose.compose_edition(session, sample, SLUG)


def test_templates_command_copies_defaults_for_editing(sample: Workspace, run: Runner) -> None:
    output = run("newsletter", "templates").output
    assert "Copied templates/newsletter.sv.mjml.j2" in output
    path = sample.templates_dir / "layout.mjml.j2"
    path.write_text(
        path.read_text(encoding="utf-8").replace("{{ t.events }}", "Träffa oss"), encoding="utf-8"
    )
    assert "already has every template" in run("newsletter", "templates").output
    run("newsletter", "compose", SLUG)
    assert "Träffa oss" in (sample.newsletters_dir / SLUG / "email.html").read_text(
        encoding="utf-8"
    )


@pytest.mark.slow
def test_archive_page_and_email_pass_axe(sample: Workspace, run: Runner) -> None:
    from .helpers.browser import axe_violations, browser_page

    run("newsletter", "compose", SLUG)
    folder = sample.newsletters_dir / SLUG
    with browser_page() as page:
        page.goto((folder / "index.html").as_uri())
        assert axe_violations(page) == []
        assert page.locator("main h1").inner_text() == sample.settings.newsletter.name
        page.goto((folder / "email.html").as_uri())
        # An e-mail has no page landmarks to give; everything else must pass.
        remaining = [
            v for v in axe_violations(page) if v["id"] not in ("landmark-one-main", "region")
        ]
        assert remaining == []


def test_a_language_without_its_own_intro_gets_the_default_edition(
    sample: Workspace, run: Runner
) -> None:
    folder = sample.newsletters_dir / SLUG
    run(
        "subscriber",
        "add",
        "jane@kommun.se",
        "--name",
        "Jane Doe",
        "--language",
        "en",
        "--confirmed",
    )
    composed = run("newsletter", "compose", SLUG).output
    assert "subject (en): Kraftsamlingen: two calls from Vinnova and events in May" in composed
    english = (folder / "email.en.txt").read_text(encoding="utf-8")
    assert "Here is a new update" in english and "Här kommer" not in english
    # Without intro.en.md: no English version at all (none left over), Swedish for everyone.
    (folder / "intro.en.md").unlink()
    run("newsletter", "preview", SLUG)
    composed = run("newsletter", "compose", SLUG).output
    assert "no intro.en.md: 'en' subscribers get the 'sv' edition" in composed
    assert not list(folder.glob("*.en.*"))
    manifest = json.loads((folder / "edition.json").read_text(encoding="utf-8"))
    assert list(manifest["subjects"]) == ["sv"]
    run("newsletter", "send", SLUG, "--yes")
    (message,) = (sample.root / "newsletters" / "outbox").glob("*.eml")
    text = message.read_text(encoding="utf-8")
    assert "Subject: =?utf-8?q?Kraftsamlingen" in text or "Subject: Kraftsamlingen" in text
    assert "Hej Jane!" in text and "Hello" not in text and "Funding calls" not in text


def test_intro_md_and_intro_sv_md_together_are_refused(sample: Workspace, run: Runner) -> None:
    folder = sample.newsletters_dir / SLUG
    (folder / "intro.sv.md").write_text("# Ämne\n\nText.\n", encoding="utf-8")
    assert (
        "both intro.md and intro.sv.md exist" in run("newsletter", "compose", SLUG, expect=1).stderr
    )
    (folder / "intro.md").unlink()
    assert "subject (sv): Ämne" in run("newsletter", "compose", SLUG).output


def test_compose_warns_when_the_intro_greets_too(sample: Workspace, run: Runner) -> None:
    folder = sample.newsletters_dir / SLUG
    (folder / "intro.md").write_text("# Ämne\n\nHej!\n\nÅrets sista nummer.\n", encoding="utf-8")
    (folder / "intro.en.md").write_text("# Subject\n\nHello everyone,\n\nThe last one.\n")
    result = run("newsletter", "compose", SLUG)
    assert "Warning: intro.md starts with a greeting ('Hej!')" in result.stderr
    assert "already greets each reader by name ('Hej Anna!')" in result.stderr
    assert "Warning: intro.en.md starts with a greeting ('Hello everyone,')" in result.stderr
    (folder / "intro.md").write_text("# Ämne\n\nÅrets sista nummer. Hejdå!\n", encoding="utf-8")
    (folder / "intro.en.md").unlink()
    assert "Warning" not in run("newsletter", "compose", SLUG).stderr
