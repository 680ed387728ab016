"""Text that goes into feeds from elsewhere: HTML shortened without losing its markup, and
newsletter placeholders made inert.

Descriptions are sanitised HTML (`sanitize.apple_html`: p, ol, ul, li, a). Apple allows 4000
bytes; `shorten_html` keeps whole blocks and links while they fit and cuts the last text at a
word, closing what is open, so a long description keeps its paragraphs and links instead of
being flattened. `defuse_placeholders` breaks `@@name@@`-style tokens in imported text, so a
newsletter that quotes an imported title can never fill a subscriber's address into it.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"(<[^>]*>)")
_OPEN = re.compile(r"<([A-Za-z][A-Za-z0-9]*)\b[^>]*?(/?)>")
_CLOSE = re.compile(r"</([A-Za-z][A-Za-z0-9]*)\s*>")
ELLIPSIS = "…"
# WORD JOINER: invisible, and no placeholder pattern (`@@…@@`) matches across it.
_JOINER = "\u2060"
_DOUBLE_AT = re.compile("@(?=@)")


def defuse_placeholders(text: str) -> str:
    """`text` with every `@@` split by an invisible joiner, so no `@@…@@` placeholder remains."""
    return _DOUBLE_AT.sub("@" + _JOINER, text) if "@@" in text else text


def _closing(stack: list[str]) -> str:
    return "".join(f"</{tag}>" for tag in reversed(stack))


def _cut_text(text: str, budget: int) -> str:
    """The longest run of whole words of `text` (escaped HTML text) within `budget` bytes."""
    words = text.split(" ")
    kept: list[str] = []
    used = 0
    for word in words:
        cost = len(word.encode("utf-8")) + (1 if kept else 0)
        if used + cost > budget:
            break
        kept.append(word)
        used += cost
    cut = " ".join(kept)
    if not kept:  # one word longer than the room: cut inside it
        cut = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    # Never end inside an entity such as "&amp;".
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip()


def shorten_html(text_html: str, max_bytes: int) -> str:
    """`text_html` if it fits in `max_bytes` (UTF-8); else its leading part, markup kept and
    balanced, cut at a word and ended with an ellipsis."""
    if len(text_html.encode("utf-8")) <= max_bytes:
        return text_html
    out: list[str] = []
    stack: list[str] = []
    used = 0
    # Room for the ending, whichever form it takes ("…" inside an open tag or "<p>…</p>").
    ellipsis_bytes = len(f"<p>{ELLIPSIS}</p>".encode())
    for token in _TOKEN.split(text_html):
        if not token:
            continue
        size = len(token.encode("utf-8"))
        reserve = len(_closing(stack).encode("utf-8")) + ellipsis_bytes
        opened = _OPEN.fullmatch(token)
        closed = _CLOSE.fullmatch(token)
        if opened:
            tag = opened.group(1).lower()
            extra = 0 if opened.group(2) else len(f"</{tag}>")
            if used + size + extra + reserve > max_bytes:
                break
            out.append(token)
            used += size
            if not opened.group(2):
                stack.append(tag)
        elif closed:
            out.append(token)
            used += size
            if stack and stack[-1] == closed.group(1).lower():
                stack.pop()
        elif used + size + reserve <= max_bytes:
            out.append(token)
            used += size
        else:
            out.append(_cut_text(token, max_bytes - used - reserve))
            break
    # Tags opened at the end with nothing in them are dropped rather than left empty.
    while stack and out and _OPEN.fullmatch(out[-1]):
        out.pop()
        stack.pop()
    ending = ELLIPSIS if stack else f"<p>{ELLIPSIS}</p>"
    return "".join(out) + ending + _closing(stack)
