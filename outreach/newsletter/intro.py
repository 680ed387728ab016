"""The editor's intro: `newsletters/<edition>/intro.md` (Markdown), one file per language.

`intro.md` (or `intro.sv.md`) is the default language's; `intro.en.md` the English one. A leading
`# heading` is the subject. An edition has a language version only where it has an intro in that
language: a reader whose language has none gets the whole edition in the default language, never
an English frame around a Swedish text. The template greets every reader by name, so an intro
that starts with a greeting of its own ("Hej!") earns a warning.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from outreach.errors import ComposeError
from outreach.newsletter.personalize import DEFAULT_LANGUAGE, LANGUAGES

# How an intro may open when it greets the reader (the template has already said "Hej Anna!").
GREETING = re.compile(
    r"^\W*(hej|hejsan|hallå|god (morgon|dag|kväll)|kära|hello|hi|dear|greetings)\b",
    re.IGNORECASE,
)

_markdown = MarkdownIt("commonmark", {"html": False, "typographer": False})


@dataclass(frozen=True)
class Intro:
    subject: str | None
    html: str
    text: str
    path: Path | None = None


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
    return Intro(subject or None, body_html, markdown_to_text(tokens), path)


def read_intros(directory: Path) -> dict[str, Intro]:
    """The intros of an edition by language: intro.md or intro.sv.md, and intro.<lang>.md."""
    plain, own = directory / "intro.md", directory / f"intro.{DEFAULT_LANGUAGE}.md"
    if plain.is_file() and own.is_file():
        raise ComposeError(
            f"{directory}: both intro.md and {own.name} exist; keep one (intro.md is the "
            "default language)"
        )
    intros: dict[str, Intro] = {}
    for language in LANGUAGES:
        paths = (
            [plain, own] if language == DEFAULT_LANGUAGE else [directory / f"intro.{language}.md"]
        )
        for path in paths:
            intro = read_intro(path)
            if intro is not None:
                intros[language] = intro
    return intros


def opening_greeting(intro: Intro) -> str | None:
    """The greeting an intro opens with ("Hej!", "Hello everyone,"), if it has one."""
    first = intro.text.strip().split("\n", 1)[0] if intro.text.strip() else ""
    if GREETING.match(first):
        return first.strip()[:40]
    return None


def summary(intro: Intro, limit: int = 400) -> str | None:
    """The intro's first paragraph as one line of plain text (the archive feed's summary)."""
    first = " ".join(intro.text.strip().split("\n\n", 1)[0].split())
    if not first:
        return None
    return first if len(first) <= limit else first[: limit - 1].rsplit(" ", 1)[0] + "…"
