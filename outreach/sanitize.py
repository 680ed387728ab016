"""HTML for podcast apps: only the tags Apple allows in descriptions, and plain text from HTML.

The one module that imports nh3 (Ammonia's sanitiser): removing tags with regular expressions
is how feeds end up with half a `<script>` in them.
"""

from __future__ import annotations

import html
import re

import nh3

# Apple Podcasts: "rich text formatting and some HTML (<p>, <ol>, <ul>, <li>, <a>)".
APPLE_TAGS = {"p", "ol", "ul", "li", "a"}
APPLE_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = {"http", "https", "mailto"}
# Known tags only: "<3" or "<mer>" in plain text is not markup.
_TAG = re.compile(
    r"</?(?:a|abbr|b|blockquote|br|code|div|em|h[1-6]|hr|i|iframe|img|li|ol|p|pre|s|script|"
    r"small|span|strong|style|sub|sup|table|td|th|tr|u|ul)\b[^>]*>|<!--",
    re.IGNORECASE,
)
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_BLOCK = re.compile(r"<(?:p|ul|ol)\b", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n\s*\n")
# Characters XML 1.0 does not allow (old feeds and pasted text carry them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ANY_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)\b[^>]*>")


def xml_text(text: str) -> str:
    """`text` without the control characters XML cannot hold."""
    return _NOT_XML.sub("", text)


def disallowed_tags(html_text: str) -> set[str]:
    """Tags in `html_text` that Apple does not allow in descriptions."""
    return {m.group(1).lower() for m in _ANY_TAG.finditer(html_text)} - APPLE_TAGS


def looks_like_html(text: str) -> bool:
    return bool(_TAG.search(text))


def _paragraphs(text: str, escape: bool) -> str:
    parts = [" ".join(part.split()) for part in _BLANK_LINES.split(text.strip())]
    return "".join(f"<p>{html.escape(p, quote=False) if escape else p}</p>" for p in parts if p)


def strip_html(text: str) -> str:
    """Plain text: tags removed, entities decoded, whitespace collapsed to single spaces."""
    cleaned = nh3.clean(text, tags=set(), attributes={}, strip_comments=True)
    return " ".join(xml_text(html.unescape(cleaned)).split())


def apple_html(text: str) -> str:
    """A description with only p/ol/ul/li/a(href). Plain text becomes paragraphs (blank lines)."""
    text = xml_text(text)
    if not looks_like_html(text):
        return _paragraphs(text, escape=True)
    cleaned = nh3.clean(
        _BR.sub("\n", text),
        tags=APPLE_TAGS,
        attributes=APPLE_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )
    # Inline-only HTML ("Hej <b>du</b>") still gets its paragraphs from blank lines.
    return cleaned.strip() if _BLOCK.search(cleaned) else _paragraphs(cleaned, escape=False)


def shorten_html(text_html: str, max_bytes: int) -> str:
    """`text_html` if it fits in `max_bytes` (UTF-8), else its plain text cut at a word, as one <p>."""
    if len(text_html.encode("utf-8")) <= max_bytes:
        return text_html
    plain = strip_html(text_html)
    budget = max_bytes - len("<p>…</p>".encode())
    words: list[str] = []
    used = 0
    for word in plain.split(" "):
        cost = len(html.escape(word, quote=False).encode("utf-8")) + (1 if words else 0)
        if used + cost > budget:
            break
        words.append(word)
        used += cost
    return f"<p>{html.escape(' '.join(words), quote=False)}…</p>"
