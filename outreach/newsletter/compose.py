"""Compose an edition of the Kraftsamling update: select its content, render it once.

Selection, for the edition date: funding calls that are open or open within
`calls_opening_soon_days` (sorted by last day to apply), events within `events_horizon_days`,
recordings and published episodes dated after the previous sent edition (content dates, not import
times, so composing an old edition again gives the same result), and the editor's
`newsletters/<edition>/intro.md` (Markdown; a leading `# heading` becomes the subject).

Rendering: Jinja2 → MJML → HTML (mjml-python), once per language and once for the web archive.
Per-recipient fields are placeholders (`@@name@@`, `@@greeting@@`, `@@email@@`,
`@@unsubscribe_url@@`) that survive MJML and are filled into the rendered HTML and text for each
recipient by `personalize`, never by rendering MJML again. Templates come from the workspace's
`templates/` folder first, then the defaults shipped in `outreach/templates/`.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date, format_time
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import ComposeError, NotFoundError, ValidationError
from outreach.fsutil import atomic_path
from outreach.models import Call, Edition, Episode, Recording, utcnow
from outreach.models import Event as EventRow
from outreach.timeutil import zone
from outreach.urls import archive_url, episode_page_url, subscribe_url, unsubscribe_url
from outreach.workspace import Workspace

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
PLACEHOLDER = re.compile(r"@@(name|greeting|email|unsubscribe_url)@@")
UNSUBSCRIBE_PLACEHOLDER = "@@unsubscribe_url@@"
# Statuses of an edition: composed → sending → (paused →) sent. Past "composed" it is frozen.
FROZEN_STATUSES = ("sending", "paused", "sent")
MANIFEST = "edition.json"

GREETINGS = {"sv": ("Hej {name}!", "Hej!"), "en": ("Hello {name},", "Hello,")}
DEFAULT_SUBJECTS = {
    "sv": "Nyheter från {name} – {date}",
    "en": "News from {name} – {date}",
}
# A realistic recipient for the size check, the preview and test sends.
SAMPLE_RECIPIENT = {
    "name": "Anna Exempel-Lindqvist",
    "email": "anna.exempel-lindqvist@kommun.example.se",
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


# -- selection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallItem:
    title: str
    funder: str | None
    opens: dt.date | None
    closes: dt.date | None
    amount: str | None
    url: str | None
    audience: str | None
    summary: str | None
    is_open: bool


@dataclass(frozen=True)
class EventItem:
    title: str
    starts: dt.datetime
    ends: dt.datetime | None
    location: str | None
    online_url: str | None
    registration_url: str | None
    summary: str | None


@dataclass(frozen=True)
class LinkItem:
    """A recording or a published episode."""

    title: str
    url: str
    day: dt.date | None
    summary: str | None


@dataclass
class EditionContent:
    slug: str
    edition_date: dt.date
    previous_date: dt.date | None
    calls: list[CallItem] = field(default_factory=list)
    events: list[EventItem] = field(default_factory=list)
    recordings: list[LinkItem] = field(default_factory=list)
    episodes: list[LinkItem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "calls": len(self.calls),
            "events": len(self.events),
            "recordings": len(self.recordings),
            "episodes": len(self.episodes),
        }


def validate_slug(slug: str) -> str:
    if not SLUG_PATTERN.match(slug):
        raise ValidationError(
            f"edition name {slug!r} must be letters, digits, '.', '_' or '-' (e.g. 2023-04-26)"
        )
    return slug


def previous_edition_date(session: Session, edition_date: dt.date, slug: str) -> dt.date | None:
    """The date of the latest edition before this one that has gone out (or started to)."""
    return session.scalar(
        select(Edition.edition_date)
        .where(
            Edition.edition_date < edition_date,
            Edition.slug != slug,
            Edition.status.in_(FROZEN_STATUSES),
        )
        .order_by(Edition.edition_date.desc())
        .limit(1)
    )


def select_content(
    session: Session, workspace: Workspace, slug: str, edition_date: dt.date
) -> EditionContent:
    """What goes into the edition of `edition_date` (see the module docstring)."""
    settings = workspace.settings.newsletter
    tz = zone(settings.timezone)
    previous = previous_edition_date(session, edition_date, slug)
    result = EditionContent(slug=slug, edition_date=edition_date, previous_date=previous)

    soon = edition_date + dt.timedelta(days=settings.calls_opening_soon_days)
    for call in session.scalars(select(Call)):
        if call.closes is not None and call.closes < edition_date:
            continue
        if call.opens is not None and call.opens > soon:
            continue
        is_open = call.opens is None or call.opens <= edition_date
        result.calls.append(
            CallItem(
                call.title,
                call.funder,
                call.opens,
                call.closes,
                call.amount,
                call.url,
                call.audience,
                call.summary,
                is_open,
            )
        )
    result.calls.sort(key=lambda c: (c.closes is None, c.closes or dt.date.max, c.title))

    day_start = dt.datetime.combine(edition_date, dt.time(), tzinfo=tz)
    horizon = day_start + dt.timedelta(days=settings.events_horizon_days + 1)
    events = session.scalars(
        select(EventRow)
        .where(EventRow.starts >= day_start.astimezone(dt.UTC))
        .where(EventRow.starts < horizon.astimezone(dt.UTC))
        .order_by(EventRow.starts, EventRow.id)
    )
    result.events = [
        EventItem(
            e.title, e.starts, e.ends, e.location, e.online_url, e.registration_url, e.summary
        )
        for e in events
    ]

    def in_window(day: dt.date) -> bool:
        return day <= edition_date and (previous is None or day > previous)

    for recording in session.scalars(select(Recording).order_by(Recording.recorded)):
        day = recording.recorded or recording.created_at.astimezone(tz).date()
        if in_window(day):
            result.recordings.append(
                LinkItem(recording.title, recording.url, day, recording.summary)
            )
    episodes = session.scalars(
        select(Episode)
        .where(Episode.status == "published", Episode.published_at.is_not(None))
        .order_by(Episode.published_at)
    )
    for episode in episodes:
        assert episode.published_at is not None
        day = episode.published_at.astimezone(tz).date()
        if not in_window(day):
            continue
        url = episode_page_url(workspace, episode.slug)
        result.episodes.append(LinkItem(episode.title, url, day, episode.summary))
    return result


# -- the editor's intro (Markdown) ------------------------------------------------------------

_markdown = MarkdownIt("commonmark", {"html": False, "typographer": False})


@dataclass(frozen=True)
class Intro:
    subject: str | None
    html: str
    text: str


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    href: str | None = None
    label: list[str] = []
    for child in token.children or []:
        target = label if href is not None else parts
        if child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            label = []
        elif child.type == "link_close":
            text = "".join(label)
            parts.append(text if text == href else f"{text} ({href})")
            href = None
        elif child.type in ("text", "code_inline"):
            target.append(child.content)
        elif child.type in ("softbreak",):
            target.append(" ")
        elif child.type == "hardbreak":
            target.append("\n")
        elif child.type == "image":
            target.append(child.content)
    return "".join(parts)


def markdown_to_text(tokens: Sequence[Token], width: int = 72) -> str:
    """A readable plain-text form of Markdown tokens: wrapped paragraphs, '-' lists, link (url)."""
    blocks: list[str] = []
    bullets: list[str] = []
    for index, token in enumerate(tokens):
        if token.type == "bullet_list_open":
            bullets.append("-")
        elif token.type == "ordered_list_open":
            bullets.append("1.")
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            bullets.pop()
        elif token.type == "inline":
            text = _inline_text(token)
            opener = tokens[index - 1] if index else None
            if opener is not None and opener.type == "heading_open":
                blocks.append(text.upper() if opener.tag == "h1" else text)
            elif (
                bullets
                and opener is not None
                and opener.type == "paragraph_open"
                and token.level > 2
            ):
                indent = "  " * (len(bullets) - 1)
                blocks.append(
                    textwrap.fill(
                        text,
                        width,
                        initial_indent=f"{indent}{bullets[-1]} ",
                        subsequent_indent=indent + " " * (len(bullets[-1]) + 1),
                    )
                )
            else:
                blocks.append("\n".join(textwrap.fill(line, width) for line in text.split("\n")))
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.rstrip("\n"))
        elif token.type == "hr":
            blocks.append("-" * 8)
    return "\n\n".join(blocks)


def read_intro(path: Path) -> Intro | None:
    """The editor's intro.md as HTML and text; a leading '# heading' is taken as the subject."""
    if not path.is_file():
        return None
    try:
        source = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ComposeError(f"{path}: not UTF-8 text") from None
    tokens = _markdown.parse(source)
    subject = None
    if len(tokens) >= 3 and tokens[0].type == "heading_open" and tokens[0].tag == "h1":
        subject = " ".join(_inline_text(tokens[1]).split())
        tokens = tokens[3:]
    body_html = _markdown.renderer.render(tokens, _markdown.options, {})
    return Intro(subject=subject or None, html=body_html, text=markdown_to_text(tokens))


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


@dataclass(frozen=True)
class RenderedLanguage:
    """One language of an edition, rendered once, with placeholders for the recipient."""

    language: str
    subject: str
    mjml: str
    html: str
    text: str


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

    @property
    def subject(self) -> str:
        return self.languages[DEFAULT_LANGUAGE].subject


@dataclass(frozen=True)
class Recipient:
    name: str | None
    email: str
    unsubscribe_url: str


@functools.lru_cache(maxsize=256)
def _pieces(template: str) -> tuple[str, ...]:
    """A rendered edition split at its placeholders (odd items are field names), once per text."""
    return tuple(PLACEHOLDER.split(template))


def personalize(template: str, recipient: Recipient, language: str, *, is_html: bool) -> str:
    """Fill the recipient's fields into rendered HTML (escaped) or text (as is)."""
    with_name, without_name = GREETINGS.get(language, GREETINGS[DEFAULT_LANGUAGE])
    values = {
        "name": recipient.name or "",
        # Greet by first name, as a person would write: "Hej Anna!".
        "greeting": (
            with_name.format(name=recipient.name.split()[0])
            if recipient.name and recipient.name.strip()
            else without_name
        ),
        "email": recipient.email,
        "unsubscribe_url": recipient.unsubscribe_url,
    }
    if is_html:
        values = {k: html.escape(v, quote=True) for k, v in values.items()}
    pieces = _pieces(template)
    return "".join(values[p] if i % 2 else p for i, p in enumerate(pieces))


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
        "recipient": {
            "name": "@@name@@",
            "greeting": GREETINGS[language][1] if archive else "@@greeting@@",
            "email": "@@email@@",
            "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        },
    }


def check_rendered(html_text: str, text: str, *, max_bytes: int, where: str) -> None:
    """Refuse an edition Gmail would clip, or one without a working unsubscribe link."""
    if f'href="{UNSUBSCRIBE_PLACEHOLDER}"' not in html_text:
        raise ComposeError(
            f"{where}: the HTML has no unsubscribe link (a link to {{{{ recipient.unsubscribe_url }}}})"
        )
    if UNSUBSCRIBE_PLACEHOLDER not in text:
        raise ComposeError(
            f"{where}: the text part has no unsubscribe link ({{{{ recipient.unsubscribe_url }}}})"
        )
    sample = Recipient(SAMPLE_RECIPIENT["name"], SAMPLE_RECIPIENT["email"], "https://x" + "y" * 120)
    size = len(personalize(html_text, sample, DEFAULT_LANGUAGE, is_html=True).encode("utf-8"))
    if size >= max_bytes:
        raise ComposeError(
            f"{where}: the HTML is {size:,} bytes; Gmail clips messages from {max_bytes:,} bytes "
            "([newsletter] max_html_bytes). Shorten the intro or leave items out."
        )


def render_edition(
    workspace: Workspace,
    content: EditionContent,
    *,
    subject: str | None = None,
) -> ComposedEdition:
    """Render every language and the archive page (MJML runs once each); nothing is written."""
    directory = workspace.newsletters_dir / content.slug
    settings = workspace.settings.newsletter
    mjml_env = template_environment(workspace, autoescape=True)
    text_env = template_environment(workspace, autoescape=False)
    sv_intro = read_intro(directory / "intro.md")
    languages: dict[str, RenderedLanguage] = {}
    archive_html = ""
    for language in LANGUAGES:
        own_intro = read_intro(directory / f"intro.{language}.md")
        intro = own_intro or sv_intro
        default = DEFAULT_SUBJECTS[language].format(
            name=settings.name, date=format_day(content.edition_date, language)
        )
        if language != DEFAULT_LANGUAGE and own_intro is not None:
            title = own_intro.subject or default
        else:
            # No intro of its own: the Swedish text, so the Swedish subject (or the default).
            title = subject or (sv_intro.subject if sv_intro else None) or default
        context = _context(workspace, content, intro, language, title, archive=False)
        mjml_name = f"newsletter.{language}.mjml.j2"
        source = _render(mjml_env, mjml_name, context)
        rendered_html = mjml_to_html(source, mjml_name)
        text = _render(text_env, f"newsletter.{language}.txt.j2", context)
        text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
        check_rendered(rendered_html, text, max_bytes=settings.max_html_bytes, where=mjml_name)
        languages[language] = RenderedLanguage(language, title, source, rendered_html, text)
        if language == DEFAULT_LANGUAGE:
            archive_context = _context(workspace, content, intro, language, title, archive=True)
            archive_html = as_web_page(
                mjml_to_html(
                    _render(mjml_env, mjml_name, archive_context), f"{mjml_name} (archive)"
                )
            )
            if PLACEHOLDER.search(archive_html):
                raise ComposeError(
                    f"{mjml_name}: the archive page would contain personal fields; wrap them in "
                    "{% if not archive %}"
                )
    return ComposedEdition(
        slug=content.slug,
        edition_date=content.edition_date,
        content=content,
        languages=languages,
        archive_html=archive_html,
        directory=directory,
        intro_found=sv_intro is not None,
    )


def _suffix(language: str) -> str:
    return "" if language == DEFAULT_LANGUAGE else f".{language}"


def write_edition(composed: ComposedEdition) -> list[Path]:
    """Write email.mjml/html/txt (per language), index.html and edition.json, each atomically."""
    files: list[tuple[Path, str]] = []
    for language, rendered in composed.languages.items():
        stem = composed.directory / f"email{_suffix(language)}"
        files += [
            (Path(f"{stem}.mjml"), rendered.mjml),
            (Path(f"{stem}.html"), rendered.html),
            (Path(f"{stem}.txt"), rendered.text),
        ]
    files.append((composed.directory / "index.html", composed.archive_html))
    manifest = {
        "slug": composed.slug,
        "date": composed.edition_date.isoformat(),
        "subjects": {lang: r.subject for lang, r in composed.languages.items()},
        "counts": composed.content.counts(),
        "previous_edition_date": (
            composed.content.previous_date.isoformat() if composed.content.previous_date else None
        ),
    }
    files.append(
        (composed.directory / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    )
    for path, text in files:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
            # Published pages: readable by a web server (mkstemp makes files 600).
            tmp.chmod(0o644)
    composed.files = [path for path, _ in files]
    return composed.files


def today(workspace: Workspace) -> dt.date:
    """Today in the newsletter's time zone (the default edition date)."""
    return dt.datetime.now(zone(workspace.settings.newsletter.timezone)).date()


def compose_edition(
    session: Session,
    workspace: Workspace,
    slug: str | None = None,
    edition_date: dt.date | None = None,
    *,
    subject: str | None = None,
) -> ComposedEdition:
    """Select, render, check and write an edition, and record it (status 'composed').

    The slug defaults to the date, the date to the slug if it is one, else today. An edition that
    has started sending is frozen: composing it again is refused.
    """
    if slug is None:
        edition_date = edition_date or today(workspace)
        slug = edition_date.isoformat()
    validate_slug(slug)
    row = session.scalar(select(Edition).where(Edition.slug == slug))
    if edition_date is None:
        if row is not None:
            edition_date = row.edition_date
        else:
            try:
                edition_date = dt.date.fromisoformat(slug)
            except ValueError:
                raise ValidationError(
                    f"edition {slug!r} is not a date: give --date YYYY-MM-DD"
                ) from None
    if row is not None and row.status in FROZEN_STATUSES:
        raise ComposeError(
            f"edition {slug} is {row.status}: it can no longer be composed (what was sent must "
            "stay what the archive shows); compose a new edition instead"
        )
    content = select_content(session, workspace, slug, edition_date)
    composed = render_edition(workspace, content, subject=subject)
    write_edition(composed)
    if row is None:
        row = Edition(slug=slug, edition_date=edition_date, subject=composed.subject)
        session.add(row)
    row.edition_date = edition_date
    row.subject = composed.subject
    row.status = "composed"
    row.composed_at = utcnow()
    session.flush()
    return composed


@dataclass(frozen=True)
class LoadedEdition:
    """A composed edition read back from disk for sending: rendered once, filled per recipient."""

    slug: str
    edition_id: int
    subjects: dict[str, str]
    html: dict[str, str]
    text: dict[str, str]

    def language_for(self, language: str | None) -> str:
        return language if language in self.html else DEFAULT_LANGUAGE


def load_edition(session: Session, workspace: Workspace, slug: str) -> LoadedEdition:
    """The composed files of an edition, checked again (they may have been edited by hand)."""
    validate_slug(slug)
    row = session.scalar(select(Edition).where(Edition.slug == slug))
    if row is None:
        raise NotFoundError(f"no edition {slug!r}: run 'outreach newsletter compose {slug}' first")
    directory = workspace.newsletters_dir / slug
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ComposeError(
            f"edition {slug} has no readable {MANIFEST}: run 'outreach newsletter compose {slug}'"
        ) from None
    html_parts: dict[str, str] = {}
    text_parts: dict[str, str] = {}
    subjects: dict[str, str] = {}
    for language, subject_text in manifest.get("subjects", {}).items():
        stem = directory / f"email{_suffix(language)}"
        try:
            html_parts[language] = Path(f"{stem}.html").read_text(encoding="utf-8")
            text_parts[language] = Path(f"{stem}.txt").read_text(encoding="utf-8")
        except OSError as exc:
            raise ComposeError(f"edition {slug}: cannot read {exc.filename}") from None
        check_rendered(
            html_parts[language],
            text_parts[language],
            max_bytes=workspace.settings.newsletter.max_html_bytes,
            where=f"{stem}.html",
        )
        subjects[language] = subject_text
    if DEFAULT_LANGUAGE not in html_parts:
        raise ComposeError(f"edition {slug} has no Swedish version: compose it again")
    subjects[DEFAULT_LANGUAGE] = row.subject
    return LoadedEdition(slug, row.id, subjects, html_parts, text_parts)


def is_frozen(session: Session, slug: str) -> bool:
    """True once an edition has started sending (its files must stay what was sent)."""
    status = session.scalar(select(Edition.status).where(Edition.slug == validate_slug(slug)))
    return status in FROZEN_STATUSES


def write_previews(workspace: Workspace, slug: str) -> list[Path]:
    """preview.html/.txt (and preview.en.*) filled with sample subscriber data; all paths."""
    directory = workspace.newsletters_dir / validate_slug(slug)
    sample = Recipient(
        SAMPLE_RECIPIENT["name"], SAMPLE_RECIPIENT["email"], unsubscribe_url(workspace, "EXEMPEL")
    )
    previews: list[Path] = []
    for language in LANGUAGES:
        stem = directory / f"email{_suffix(language)}"
        for extension, is_html in ((".html", True), (".txt", False)):
            source = Path(f"{stem}{extension}")
            if not source.is_file():
                if language == DEFAULT_LANGUAGE:
                    raise NotFoundError(
                        f"edition {slug} is not composed: run 'outreach newsletter compose {slug}'"
                    )
                continue
            target = directory / f"preview{_suffix(language)}{extension}"
            filled = personalize(
                source.read_text(encoding="utf-8"), sample, language, is_html=is_html
            )
            with atomic_path(target) as tmp:
                tmp.write_text(filled, encoding="utf-8")
            previews.append(target)
    others = [directory / n for n in ("email.mjml", "email.html", "email.txt", "index.html")]
    return previews + [p for p in others if p.is_file()]


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
