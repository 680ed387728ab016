"""The problem list and the value checks every part of a feed shares (URLs, text, images).

`Checks` collects `Problem`s; the channel and item rules (`validate.channel`, `validate.items`)
call its value checks so that one URL or one description is judged the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from outreach.feed.spec import MAX_DESCRIPTION_BYTES, NAMESPACES
from outreach.podcast.images import cover_problems, image_info

ImageFetcher = Callable[[str], bytes | None]


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" or "warning"
    element: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.element}: {self.message}. Fix: {self.fix}"


def _is_ascii_url(url: str) -> bool:
    return url.isascii() and " " not in url


class Checks:
    """The problems found so far, and the checks for values that occur in many places."""

    def __init__(self, fetch: ImageFetcher | None) -> None:
        self.problems: list[Problem] = []
        self.fetch = fetch

    def error(self, element: str, message: str, fix: str) -> None:
        self.problems.append(Problem("error", element, message, fix))

    def warning(self, element: str, message: str, fix: str) -> None:
        self.problems.append(Problem("warning", element, message, fix))

    def url(self, element: str, url: str | None, *, required: bool = True) -> bool:
        if not url or not url.strip():
            if required:
                self.error(element, "the URL is empty", "give the full https:// URL")
            return False
        if not _is_ascii_url(url):
            self.error(
                element,
                f"the URL {url!r} has non-ASCII characters or spaces",
                "percent-encode the URL (or use an ASCII file name)",
            )
            return False
        if not url.startswith(("http://", "https://")):
            self.error(element, f"{url!r} is not an http(s) URL", "use an absolute https:// URL")
            return False
        if url.startswith("http://"):
            self.warning(element, f"{url!r} is not https", "serve it over https")
        return True

    def description(self, element: str, text: str | None, *, required: bool) -> None:
        if text is None or not text.strip():
            if required:
                self.error(element, "missing or empty", "add a description of the show")
            return
        size = len(text.encode("utf-8"))
        if size > MAX_DESCRIPTION_BYTES:
            self.error(
                element,
                f"{size} bytes long; Apple allows {MAX_DESCRIPTION_BYTES}",
                f"shorten it to at most {MAX_DESCRIPTION_BYTES} bytes",
            )

    def explicit(self, element: str, elem: Any, *, required: bool) -> None:
        if elem is None:
            if required:
                self.error(element, "missing", "add <itunes:explicit>false</itunes:explicit>")
            return
        value = (elem.text or "").strip().lower()
        if value in ("true", "false"):
            return
        if value in ("yes", "no", "clean"):
            self.warning(
                element,
                f"{value!r} is the old form",
                "use true or false (clean and no mean false)",
            )
            return
        self.error(element, f"{value!r} is not a valid value", "use true or false")

    def image(self, element: str, href: str | None) -> None:
        if not self.url(element, href):
            return
        assert href is not None
        if not href.lower().split("?")[0].endswith((".jpg", ".jpeg", ".png")):
            self.error(element, f"{href!r} does not end in .jpg or .png", "link a JPEG or PNG file")
        if self.fetch is None:
            return
        data = self.fetch(href)
        if data is None:
            self.warning(
                element, f"could not read the image {href}", "check that the URL is reachable"
            )
            return
        for problem in cover_problems(image_info(data)):
            self.error(
                element,
                f"the image {href} {problem}",
                "use a square RGB JPEG or PNG of 1400×1400 to 3000×3000 px",
            )

    def integer(self, element: str, elem: Any, *, minimum: int = 1) -> None:
        if elem is None:
            return
        text = (elem.text or "").strip()
        if not text.isdigit() or int(text) < minimum:
            self.error(element, f"{text!r} is not a whole number ≥ {minimum}", "use e.g. 1, 2, 3")

    def persons(self, where: str, parent: Any) -> None:
        for person in parent.findall("podcast:person", NAMESPACES):
            name = (person.text or "").strip()
            if not name:
                self.error(f"{where}/podcast:person", "empty name", "put the person's name inside")
            elif len(name) > 128:
                self.error(f"{where}/podcast:person", "name over 128 characters", "shorten it")
            for attribute in ("href", "img"):
                if person.get(attribute) is not None:
                    self.url(f"{where}/podcast:person@{attribute}", person.get(attribute))
