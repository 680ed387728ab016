"""An episode's summary, written in Markdown (as the newsletter's intro.md), in its two forms.

`summary_html` is what feeds show: Markdown rendered by markdown-it-py (raw HTML in the source is
escaped, not passed through), then sanitised to the tags Apple allows (p, ol, ul, li, a href), so
links are kept and `**emphasis**` loses only its markup. `summary_text` is what plain-text places
get (the ID3 comment, the newsletter's text part): paragraphs and "- " items, a link as
"label (url)". A summary imported from an old feed is already HTML and is only sanitised.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from outreach.sanitize import apple_html, looks_like_html, strip_html, xml_text

_markdown = MarkdownIt("commonmark", {"html": False, "typographer": False})
_BETWEEN_BLOCKS = re.compile(r"(?<=>)\n(?=</?(?:p|ul|ol|li)\b)")


def summary_html(summary: str | None) -> str:
    """Sanitised HTML for a feed's description and content:encoded ("" for no summary)."""
    text = xml_text(summary or "").strip()
    if not text:
        return ""
    if _imported(text):
        return apple_html(text)
    # markdown-it ends each block with a newline: the feed's HTML has none between blocks.
    return _BETWEEN_BLOCKS.sub("", apple_html(_markdown.render(text)))


def markdown_html(text: str) -> str:
    """Markdown written by the editor (the show's description) as page HTML: raw HTML in it is
    shown as text, never passed through."""
    return str(_markdown.render(text))


def summary_text(summary: str | None) -> str:
    """Plain text: paragraphs separated by blank lines, lists as "- ", links as "label (url)"."""
    text = xml_text(summary or "").strip()
    if not text:
        return ""
    if _imported(text):
        return strip_html(apple_html(text))
    return _blocks(_markdown.parse(text))


def _imported(text: str) -> bool:
    """A summary imported from a feed is HTML that starts with a tag (`apple_html` wrote it);
    a `<` inside Markdown is text, and markdown-it shows it as text."""
    return text.startswith("<") and looks_like_html(text)


def _blocks(tokens: Sequence[Token]) -> str:
    blocks: list[str] = []
    depth = 0
    for index, token in enumerate(tokens):
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif token.type == "inline":
            line = _inline(token)
            in_item = depth and index >= 2 and tokens[index - 2].type == "list_item_open"
            blocks.append(f"{'  ' * (depth - 1)}- {line}" if in_item else line)
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.rstrip("\n"))
    return "\n\n".join(block for block in blocks if block.strip())


def _inline(token: Token) -> str:
    parts: list[str] = []
    href: str | None = None
    label: list[str] = []
    for child in token.children or []:
        if child.type == "link_open":
            href, label = str(child.attrs.get("href", "")), []
        elif child.type == "link_close":
            shown = "".join(label)
            parts.append(shown if shown == href else f"{shown} ({href})")
            href = None
        elif child.type in ("text", "code_inline", "image"):
            (label if href is not None else parts).append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            (label if href is not None else parts).append(" ")
    return " ".join("".join(parts).split())
