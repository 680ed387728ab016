"""Render an edition: Jinja2 templates, MJML to HTML and the text part, around the editor's intro.

Rendering runs MJML (mjml-python) once per language and once for the web archive; per-recipient
fields stay placeholders (see `personalize`); the intros come from `intro`. Templates come from the workspace's
`templates/` folder first, then the defaults shipped in `outreach/newsletter/templates/`.
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date, format_time
from markupsafe import Markup

from outreach.errors import ComposeError
from outreach.fsutil import atomic_path
from outreach.newsletter.edition import RenderedLanguage
from outreach.newsletter.intro import Intro, opening_greeting, read_intros, summary
from outreach.newsletter.personalize import (
    DEFAULT_LANGUAGE,
    GREETINGS,
    LANGUAGES,
    PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    check_rendered,
)
from outreach.newsletter.select import EditionContent
from outreach.timeutil import zone
from outreach.urls import archive_url, subscribe_url
from outreach.workspace import Workspace

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_SUBJECTS = {
    "sv": "Nyheter från {name} – {date}",
    "en": "News from {name} – {date}",
}


# -- dates and times -------------------------------------------------------------------------


def format_day(day: dt.date, language: str = DEFAULT_LANGUAGE) -> str:
    """'11 maj 2023' (sv) or '11 May 2023' (en)."""
    return format_date(day, "d MMMM y", locale=language)


def _clock(moment: dt.datetime, language: str) -> str:
    if language == "sv":
        # Swedish style: "kl. 10", "kl. 9.30" (Språkrådet), not "10:00".
        return format_time(moment, "H" if moment.minute == 0 else "H.mm", locale="sv")
    return format_time(moment, "HH:mm", locale=language)


def format_when(
    starts: dt.datetime, ends: dt.datetime | None, tz: ZoneInfo, language: str = DEFAULT_LANGUAGE
) -> str:
    """'4 maj 2023, kl. 10–12' (local time); an event over several days names both days."""
    start = starts.astimezone(tz)
    prefix = "kl. " if language == "sv" else ""
    text = f"{format_day(start.date(), language)}, {prefix}{_clock(start, language)}"
    if ends is None:
        return text
    end = ends.astimezone(tz)
    if end.date() == start.date():
        return f"{text}–{_clock(end, language)}"
    return f"{text} – {format_day(end.date(), language)}, {prefix}{_clock(end, language)}"


# -- rendering ---------------------------------------------------------------------------------


def template_environment(workspace: Workspace, *, autoescape: bool) -> jinja2.Environment:
    """Templates in the workspace's templates/ override the defaults shipped with outreach."""
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(str(workspace.templates_dir)),
            jinja2.FileSystemLoader(str(PACKAGE_TEMPLATES)),
        ]
    )
    env = jinja2.Environment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    return env


def _wrap(text: Any, width: int = 72, indent: str = "", first: str | None = None) -> str:
    """Fold a paragraph for the text part (URLs are never broken)."""
    return textwrap.fill(
        " ".join(str(text).split()),
        width,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _render(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise ComposeError(
            f"template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}"
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise ComposeError(f"template {exc.name} not found in templates/ or the defaults") from None
    except jinja2.UndefinedError as exc:
        raise ComposeError(f"template {name}: {exc.message}") from None


def mjml_to_html(source: str, where: str) -> str:
    """MJML → HTML with mjml-python (MRML). Unknown mj- tags, which MRML passes through, are errors."""
    import mjml

    try:
        rendered = str(mjml.mjml2html(source, disable_comments=True))
    except (ValueError, RuntimeError) as exc:
        raise ComposeError(f"{where}: MJML error: {exc}") from None
    leftover = re.search(r"</?(mj-[a-z-]+)", rendered)
    if leftover:
        raise ComposeError(f"{where}: MJML error: unknown or misplaced <{leftover.group(1)}>")
    return rendered


def as_web_page(rendered: str) -> str:
    """The archive page: the e-mail HTML inside a <main> landmark (screen readers find it)."""
    body = re.search(r"<body[^>]*>", rendered)
    if body is None or "</body>" not in rendered:
        return rendered
    end = rendered.rindex("</body>")
    return (
        rendered[: body.end()] + "<main>" + rendered[body.end() : end] + "</main>" + rendered[end:]
    )


@dataclass
class ComposedEdition:
    slug: str
    edition_date: dt.date
    content: EditionContent
    languages: dict[str, RenderedLanguage]
    archive_html: str
    directory: Path
    intro_found: bool
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: str | None = None

    @property
    def subject(self) -> str:
        return self.languages[DEFAULT_LANGUAGE].subject

    def manifest(self) -> dict[str, Any]:
        """What edition.json records: the subjects per language and what was selected."""
        previous = self.content.previous_date
        return {
            "slug": self.slug,
            "date": self.edition_date.isoformat(),
            "subjects": {lang: r.subject for lang, r in self.languages.items()},
            "counts": self.content.counts(),
            "previous_edition_date": previous.isoformat() if previous else None,
            "summary": self.summary,
        }


def _context(
    workspace: Workspace,
    content: EditionContent,
    intro: Intro | None,
    language: str,
    subject: str,
    *,
    archive: bool,
) -> dict[str, Any]:
    settings = workspace.settings.newsletter
    tz = zone(settings.timezone)
    return {
        "language": language,
        "archive": archive,
        "subject": subject,
        "newsletter": settings,
        "show": workspace.settings.show,
        "edition": content,
        "edition_date": format_day(content.edition_date, language),
        "intro_html": Markup(intro.html) if intro else "",
        "intro_text": intro.text if intro else "",
        "calls": content.calls,
        "events": content.events,
        "recordings": content.recordings,
        "episodes": content.episodes,
        "day": lambda d: format_day(d, language),
        "when": lambda e: format_when(e.starts, e.ends, tz, language),
        "archive_url": archive_url(workspace, content.slug),
        "subscribe_url": subscribe_url(workspace),
        "privacy_url": workspace.settings.web.privacy_url,
        "recipient": {
            "name": "@@name@@",
            "greeting": GREETINGS[language][1] if archive else "@@greeting@@",
            "email": "@@email@@",
            "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        },
    }


def render_edition(
    workspace: Workspace,
    content: EditionContent,
    *,
    subject: str | None = None,
) -> ComposedEdition:
    """Render every language and the archive page (MJML runs once each); nothing is written."""
    directory = workspace.newsletters_dir / content.slug
    intros = read_intros(directory)
    renderer = _Renderer(workspace, content)
    languages: dict[str, RenderedLanguage] = {}
    archive_html = ""
    warnings: list[str] = []
    # The default language always; another only with an intro of its own (never a mix).
    for language in [DEFAULT_LANGUAGE, *(lang for lang in LANGUAGES if lang in intros)]:
        if language in languages:
            continue
        intro = intros.get(language)
        default = DEFAULT_SUBJECTS[language].format(
            name=workspace.settings.newsletter.name,
            date=format_day(content.edition_date, language),
        )
        given = subject if language == DEFAULT_LANGUAGE else None
        title = given or (intro.subject if intro else None) or default
        languages[language] = renderer.language(intro, language, title)
        if language == DEFAULT_LANGUAGE:
            archive_html = renderer.archive(intro, language, title)
        greeting = opening_greeting(intro) if intro else None
        if greeting and "@@greeting@@" in languages[language].text:
            warnings.append(
                f"{intro.path.name if intro and intro.path else 'the intro'} starts with a "
                f"greeting ({greeting!r}) but the template already greets each reader by name "
                f"({GREETINGS[language][0].format(name='Anna')!r}): drop it from the intro"
            )
    return ComposedEdition(
        slug=content.slug,
        edition_date=content.edition_date,
        content=content,
        languages=languages,
        archive_html=archive_html,
        directory=directory,
        intro_found=DEFAULT_LANGUAGE in intros,
        warnings=warnings,
        summary=summary(intros[DEFAULT_LANGUAGE]) if DEFAULT_LANGUAGE in intros else None,
    )


class _Renderer:
    """The two template environments (MJML autoescaped, text not) for one edition's content."""

    def __init__(self, workspace: Workspace, content: EditionContent) -> None:
        self.workspace = workspace
        self.content = content
        self.mjml_env = template_environment(workspace, autoescape=True)
        self.text_env = template_environment(workspace, autoescape=False)

    def language(self, intro: Intro | None, language: str, title: str) -> RenderedLanguage:
        """One language's MJML, HTML and text, checked (unsubscribe link, clip size)."""
        context = _context(self.workspace, self.content, intro, language, title, archive=False)
        mjml_name = f"newsletter.{language}.mjml.j2"
        source = _render(self.mjml_env, mjml_name, context)
        rendered_html = mjml_to_html(source, mjml_name)
        text = _render(self.text_env, f"newsletter.{language}.txt.j2", context)
        text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
        max_bytes = self.workspace.settings.newsletter.max_html_bytes
        check_rendered(rendered_html, text, max_bytes=max_bytes, where=mjml_name)
        return RenderedLanguage(language, title, source, rendered_html, text)

    def archive(self, intro: Intro | None, language: str, title: str) -> str:
        """The web archive page: no personal fields, inside a <main> landmark."""
        context = _context(self.workspace, self.content, intro, language, title, archive=True)
        mjml_name = f"newsletter.{language}.mjml.j2"
        page = as_web_page(
            mjml_to_html(_render(self.mjml_env, mjml_name, context), f"{mjml_name} (archive)")
        )
        if PLACEHOLDER.search(page):
            raise ComposeError(
                f"{mjml_name}: the archive page would contain personal fields; wrap them in "
                "{% if not archive %}"
            )
        return page


def copy_default_templates(workspace: Workspace, *, overwrite: bool = False) -> list[Path]:
    """Copy the shipped templates into the workspace's templates/ to edit them; returns the copies.

    Existing files are kept unless `overwrite`.
    """
    written = []
    for source in sorted(PACKAGE_TEMPLATES.glob("*.j2")):
        target = workspace.templates_dir / source.name
        if target.exists() and not overwrite:
            continue
        with atomic_path(target) as tmp:
            tmp.write_bytes(source.read_bytes())
            tmp.chmod(0o644)
        written.append(target)
    return written
