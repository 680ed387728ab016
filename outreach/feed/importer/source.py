"""Reading a feed file as a stream: the encoding it really has, HTML entities repaired, and the
items handed out one by one by lxml's `iterparse` and cleared after use, so memory stays flat
however many items the feed has.

Real feeds are messy: the declared encoding may be wrong (we fall back to UTF-8, then
Windows-1252), HTML entities such as `&nbsp;` and bare `&` are repaired, and lxml recovers from
broken markup. Everything odd becomes a warning.
"""

from __future__ import annotations

import codecs
import html.entities
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from outreach.errors import FeedError
from outreach.feed.lenient import kind

CHUNK_BYTES = 1 << 20
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_XML_DECLARATION_TEXT = re.compile(r"^\s*<\?xml[^>]*\?>")
_ENTITY = re.compile(r"&(#[0-9]+;|#[xX][0-9A-Fa-f]+;|[A-Za-z][A-Za-z0-9]*;)?")
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
# An entity is at most this long; a chunk's last "&" closer to its end than this waits for more.
_LONGEST_ENTITY = 40

Progress = Callable[[int], None]


def repair_entities(text: str) -> str:
    """HTML entities XML does not define become character references; bare & becomes &amp;."""

    def replace(match: re.Match[str]) -> str:
        entity = match.group(1)
        if entity is None:
            return "&amp;"
        if entity.startswith("#"):
            return match.group(0)
        name = entity[:-1]
        if name in _XML_ENTITIES:
            return match.group(0)
        codepoint = html.entities.name2codepoint.get(name)
        return f"&#{codepoint};" if codepoint is not None else f"&amp;{entity}"

    return _ENTITY.sub(replace, text)


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as data:
            while block := data.read(CHUNK_BYTES):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path) -> tuple[str, str, list[str]]:
    """(codec, error handling, warnings): what the file really is, whatever it claims."""
    with open(path, "rb") as data:
        head = data.read(1024)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", "replace", []
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", "replace", []
    warnings: list[str] = []
    match = _XML_DECLARATION.match(head)
    declared = match.group(1).decode("ascii").lower() if match else "utf-8"
    for encoding in dict.fromkeys((declared, "utf-8")):
        try:
            codecs.lookup(encoding)
        except LookupError:
            warnings.append(f"the feed declares an unknown encoding {declared!r}")
            continue
        if not _decodes(path, encoding):
            if encoding == declared:
                warnings.append(f"the feed says {declared} but is not valid {declared}")
            continue
        if encoding != declared:
            warnings.append(f"read the feed as {encoding} instead")
        return encoding, "strict", warnings
    warnings.append("read the feed as Windows-1252 (characters it lacks are replaced)")
    return "cp1252", "replace", warnings


class _RepairedStream:
    """A file-like object for lxml: the feed decoded, entities repaired, re-encoded as UTF-8."""

    def __init__(self, path: Path, encoding: str, errors: str, progress: Progress | None) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close(), after parsing
        self._decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
        self._progress = progress
        self._carry = ""
        self._buffer = b""
        self._first = True
        self._done = False

    def _next_text(self) -> str:
        block = self._file.read(CHUNK_BYTES)
        if self._progress is not None and block:
            self._progress(len(block))
        if not block:
            self._done = True
            text, self._carry = self._carry + self._decoder.decode(b"", final=True), ""
        else:
            text = self._carry + self._decoder.decode(block)
            amp = text.rfind("&", max(0, len(text) - _LONGEST_ENTITY))
            cut = amp if amp != -1 and ";" not in text[amp:] else len(text)
            text, self._carry = text[:cut], text[cut:]
        if self._first and text:
            # The declaration names the old encoding; what lxml gets is UTF-8.
            text = _XML_DECLARATION_TEXT.sub("", text.lstrip("\ufeff"), count=1)
            self._first = False
        return repair_entities(text)

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._buffer += self._next_text().encode("utf-8")
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        self._file.close()


class FeedReader:
    """Streams the items of an RSS file; the channel's other children stay in `channel`."""

    def __init__(self, path: Path, progress: Progress | None = None) -> None:
        self.path = path
        self.progress = progress
        self.channel: Any = None
        self.encoding, self._errors, self.warnings = detect_encoding(path)

    def items(self) -> Iterator[Any]:
        """Each <item> of the channel, cleared and dropped once the caller has read it."""
        stream = _RepairedStream(self.path, self.encoding, self._errors, self.progress)
        # End events only: half the events of ("start", "end"); the root is known from the first.
        events = etree.iterparse(
            stream,
            events=("end",),
            recover=True,
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
        )
        try:
            yield from self._walk(events)
        except etree.XMLSyntaxError:
            if events.root is None:
                raise FeedError("this is not an RSS feed (no XML found)") from None
            raise FeedError(f"{self.path.name}: the XML cannot be read") from None
        finally:
            stream.close()
        if events.root is None:
            raise FeedError("this is not an RSS feed (no XML found)")
        self._check_root(events.root)
        if self.channel is None:
            self.channel = next((c for c in events.root if kind(c) == ("", "channel")), None)
        if self.channel is None:
            raise FeedError("this is not an RSS feed (it has no <channel>)")
        errors = events.error_log
        if len(errors):
            self.warnings.append(
                f"the XML has {len(errors)} error(s), read as far as possible "
                f"(first: line {errors[0].line}: {errors[0].message})"
            )

    @staticmethod
    def _check_root(root: Any) -> None:
        if kind(root)[1] != "rss":
            raise FeedError(f"this is not an RSS feed (the root element is <{kind(root)[1]}>)")

    def _walk(self, events: Any) -> Iterator[Any]:
        root = None
        for _event, elem in events:
            if root is None:
                root = elem.getroottree().getroot()
                self._check_root(root)
            if kind(elem) != ("", "item"):
                continue
            parent = elem.getparent()
            if parent is None:
                continue
            if (
                self.channel is None
                and kind(parent) == ("", "channel")
                and parent.getparent() is root
            ):
                self.channel = parent
            if parent is self.channel:
                yield elem
                elem.clear()
                parent.remove(elem)
