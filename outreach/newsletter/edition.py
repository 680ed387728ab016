"""The files of an edition in `newsletters/<edition>/`: write them, read them back, preview them.

`compose` writes `email.mjml/html/txt` per language (`email.en.*` for English), the archive page
`index.html` and the manifest `edition.json`, each atomically. Sending reads them back with
`load_edition` and checks them again (they may have been edited by hand). Once an edition has
started sending it is frozen: its files must stay what was sent and what the archive shows.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import ComposeError, NotFoundError, ValidationError
from outreach.fsutil import atomic_path
from outreach.models import Edition
from outreach.newsletter.personalize import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    SAMPLE_RECIPIENT,
    Recipient,
    check_rendered,
    personalize,
)
from outreach.timeutil import zone
from outreach.urls import unsubscribe_url
from outreach.workspace import Workspace

SLUG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
# Statuses of an edition: composed → sending → (paused →) sent. Past "composed" it is frozen.
FROZEN_STATUSES = ("sending", "paused", "sent")
MANIFEST = "edition.json"


def validate_slug(slug: str) -> str:
    if not SLUG_PATTERN.match(slug):
        raise ValidationError(
            f"edition name {slug!r} must be letters, digits, '.', '_' or '-' (e.g. 2023-04-26)"
        )
    return slug


def today(workspace: Workspace) -> dt.date:
    """Today in the newsletter's time zone (the default edition date)."""
    return dt.datetime.now(zone(workspace.settings.newsletter.timezone)).date()


def suffix(language: str) -> str:
    """'' for the default language, '.en' for English: email.html, email.en.html."""
    return "" if language == DEFAULT_LANGUAGE else f".{language}"


@dataclass(frozen=True)
class RenderedLanguage:
    """One language of an edition, rendered once, with placeholders for the recipient."""

    language: str
    subject: str
    mjml: str
    html: str
    text: str


def write_edition(
    directory: Path,
    languages: Mapping[str, RenderedLanguage],
    archive_html: str,
    manifest: Mapping[str, Any],
) -> list[Path]:
    """Write email.mjml/html/txt (per language), index.html and edition.json, each atomically."""
    files: list[tuple[Path, str]] = []
    for language, rendered in languages.items():
        stem = directory / f"email{suffix(language)}"
        files += [
            (Path(f"{stem}.mjml"), rendered.mjml),
            (Path(f"{stem}.html"), rendered.html),
            (Path(f"{stem}.txt"), rendered.text),
        ]
    files.append((directory / "index.html", archive_html))
    _remove_other_languages(directory, set(languages))
    files.append(
        (directory / MANIFEST, json.dumps(dict(manifest), ensure_ascii=False, indent=2) + "\n")
    )
    for path, text in files:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
            # Published pages: readable by a web server (mkstemp makes files 600).
            tmp.chmod(0o644)
    return [path for path, _ in files]


def _remove_other_languages(directory: Path, kept: set[str]) -> None:
    """A language dropped since the last compose (its intro was deleted) leaves no files behind."""
    for language in set(LANGUAGES) - kept:
        for name in ("email", "preview"):
            for extension in (".mjml", ".html", ".txt"):
                Path(f"{directory / name}{suffix(language)}{extension}").unlink(missing_ok=True)


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


def _read_manifest(directory: Path, slug: str) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ComposeError(
            f"edition {slug} has no readable {MANIFEST}: run 'outreach newsletter compose {slug}'"
        ) from None
    return dict(manifest)


@dataclass(frozen=True)
class RenderedFiles:
    """The rendered parts of an edition as they are on disk, not yet checked."""

    directory: Path
    subjects: dict[str, str]
    html: dict[str, str]
    text: dict[str, str]
    manifest: dict[str, Any]

    def stem(self, language: str) -> Path:
        return self.directory / f"email{suffix(language)}"


def read_rendered(workspace: Workspace, slug: str) -> RenderedFiles:
    """The manifest and the rendered HTML and text of every language it names."""
    directory = workspace.newsletters_dir / validate_slug(slug)
    manifest = _read_manifest(directory, slug)
    files = RenderedFiles(directory, {}, {}, {}, manifest)
    for language, subject_text in manifest.get("subjects", {}).items():
        stem = files.stem(language)
        try:
            files.html[language] = Path(f"{stem}.html").read_text(encoding="utf-8")
            files.text[language] = Path(f"{stem}.txt").read_text(encoding="utf-8")
        except OSError as exc:
            raise ComposeError(f"edition {slug}: cannot read {exc.filename}") from None
        files.subjects[language] = subject_text
    if DEFAULT_LANGUAGE not in files.html:
        raise ComposeError(f"edition {slug} has no Swedish version: compose it again")
    return files


def edition_row(session: Session, slug: str) -> Edition:
    """The edition's row, or NotFoundError telling how to make it."""
    row = session.scalar(select(Edition).where(Edition.slug == validate_slug(slug)))
    if row is None:
        raise NotFoundError(f"no edition {slug!r}: run 'outreach newsletter compose {slug}' first")
    return row


def load_edition(session: Session, workspace: Workspace, slug: str) -> LoadedEdition:
    """The composed files of an edition, checked again (they may have been edited by hand)."""
    row = edition_row(session, slug)
    files = read_rendered(workspace, slug)
    for language in files.html:
        check_rendered(
            files.html[language],
            files.text[language],
            max_bytes=workspace.settings.newsletter.max_html_bytes,
            where=f"{files.stem(language)}.html",
        )
    subjects = dict(files.subjects)
    subjects[DEFAULT_LANGUAGE] = row.subject
    return LoadedEdition(slug, row.id, subjects, files.html, files.text)


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
        stem = directory / f"email{suffix(language)}"
        for extension, is_html in ((".html", True), (".txt", False)):
            source = Path(f"{stem}{extension}")
            if not source.is_file():
                if language == DEFAULT_LANGUAGE:
                    raise NotFoundError(
                        f"edition {slug} is not composed: run 'outreach newsletter compose {slug}'"
                    )
                continue
            target = directory / f"preview{suffix(language)}{extension}"
            filled = personalize(
                source.read_text(encoding="utf-8"), sample, language, is_html=is_html
            )
            with atomic_path(target) as tmp:
                tmp.write_text(filled, encoding="utf-8")
            previews.append(target)
    others = [directory / n for n in ("email.mjml", "email.html", "email.txt", "index.html")]
    return previews + [p for p in others if p.is_file()]


def archive_entry(workspace: Workspace, slug: str) -> tuple[str | None, str | None]:
    """The archive feed's summary (the intro's first paragraph) and content (the archive page's
    <main>) of an edition; None for what its files do not have."""
    directory = workspace.newsletters_dir / validate_slug(slug)
    summary = None
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        summary = manifest.get("summary") or None
    except (OSError, ValueError):
        pass
    try:
        page = (directory / "index.html").read_text(encoding="utf-8")
    except OSError:
        return summary, None
    main = re.search(r"<main>(.*)</main>", page, re.DOTALL)
    return summary, (main.group(1).strip() if main else None)
