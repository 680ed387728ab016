"""The problem list and the value checks every part of a feed shares (URLs, text, images, people).

`Checks` collects `Problem`s; the channel and item rules (`validate.channel`, `validate.items`)
call its value checks so that one URL or one description is judged the same way everywhere.
Every problem carries a `rule`, a stable name for machines (`feed validate --json`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from outreach.feed.spec import DEFAULT_COVER_MARKER, MAX_DESCRIPTION_BYTES, NAMESPACES
from outreach.feed.validate.taxonomy import MAX_TITLE_CHARACTERS, PERSON_ROLES
from outreach.podcast.images import cover_problems, image_info

ImageFetcher = Callable[[str], bytes | None]


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" or "warning"
    element: str
    message: str
    fix: str
    rule: str = ""

    def __str__(self) -> str:
        return f"{self.severity}: {self.element}: {self.message}. Fix: {self.fix}"

    def as_json(self) -> dict[str, str]:
        """The machine-readable form: level, rule, where, message, fix."""
        data = asdict(self)
        return {
            "level": data["severity"],
            "rule": data["rule"],
            "where": data["element"],
            "message": data["message"],
            "fix": data["fix"],
        }


def _is_ascii_url(url: str) -> bool:
    return url.isascii() and " " not in url


class Checks:
    """The problems found so far, and the checks for values that occur in many places."""

    def __init__(self, fetch: ImageFetcher | None) -> None:
        self.problems: list[Problem] = []
        self.fetch = fetch
        # The feed's own language, for suggestions (filled in when the channel is read).
        self.language = ""

    def error(self, rule: str, element: str, message: str, fix: str) -> None:
        self.problems.append(Problem("error", element, message, fix, rule))

    def warning(self, rule: str, element: str, message: str, fix: str) -> None:
        self.problems.append(Problem("warning", element, message, fix, rule))

    def url(self, element: str, url: str | None, *, required: bool = True) -> bool:
        if not url or not url.strip():
            if required:
                self.error("url-empty", element, "the URL is empty", "give the full https:// URL")
            return False
        if not _is_ascii_url(url):
            self.error(
                "url-not-ascii",
                element,
                f"the URL {url!r} has non-ASCII characters or spaces",
                "percent-encode the URL (or use an ASCII file name)",
            )
            return False
        if not url.startswith(("http://", "https://")):
            self.error(
                "url-not-http",
                element,
                f"{url!r} is not an http(s) URL",
                "use an absolute https:// URL",
            )
            return False
        if url.startswith("http://"):
            self.warning("url-not-https", element, f"{url!r} is not https", "serve it over https")
        return True

    def title(self, element: str, text: str | None, fix: str) -> None:
        if text is None or not text.strip():
            self.error("title-missing", element, "missing or empty", fix)
        elif len(text.strip()) > MAX_TITLE_CHARACTERS:
            self.error(
                "title-too-long",
                element,
                f"{len(text.strip())} characters long; Apple allows {MAX_TITLE_CHARACTERS}",
                f"shorten it to at most {MAX_TITLE_CHARACTERS} characters",
            )

    def description(self, element: str, text: str | None, *, required: bool) -> None:
        if text is None or not text.strip():
            if required:
                self.error(
                    "description-missing",
                    element,
                    "missing or empty",
                    "add a description of the show",
                )
            return
        size = len(text.encode("utf-8"))
        if size > MAX_DESCRIPTION_BYTES:
            self.error(
                "description-too-long",
                element,
                f"{size} bytes long; Apple allows {MAX_DESCRIPTION_BYTES}",
                f"shorten it to at most {MAX_DESCRIPTION_BYTES} bytes",
            )

    def explicit(self, element: str, elem: Any, *, required: bool) -> None:
        if elem is None:
            if required:
                self.error(
                    "explicit-missing",
                    element,
                    "missing",
                    "add <itunes:explicit>false</itunes:explicit>",
                )
            return
        value = (elem.text or "").strip().lower()
        if value in ("true", "false"):
            return
        if value in ("yes", "no", "clean"):
            self.warning(
                "explicit-old-form",
                element,
                f"{value!r} is the old form",
                f"use {'true' if value == 'yes' else 'false'} (clean and no mean false)",
            )
            return
        self.error(
            "explicit-invalid", element, f"{value!r} is not a valid value", "use true or false"
        )

    def image(self, element: str, href: str | None) -> None:
        if not self.url(element, href):
            return
        assert href is not None
        if not href.lower().split("?")[0].endswith((".jpg", ".jpeg", ".png")):
            self.error(
                "image-kind",
                element,
                f"{href!r} does not end in .jpg or .png",
                "link a JPEG or PNG file",
            )
        if self.fetch is None:
            return
        data = self.fetch(href)
        if data is None:
            self.warning(
                "image-unreadable",
                element,
                f"could not read the image {href}",
                "check that the URL is reachable",
            )
            return
        for problem in cover_problems(image_info(data)):
            self.error(
                "image-size",
                element,
                f"the image {href} {problem}",
                "use a square RGB JPEG or PNG of 1400×1400 to 3000×3000 px",
            )
        if DEFAULT_COVER_MARKER.encode() in data[:4096]:
            self.warning(
                "image-placeholder",
                element,
                "this is the placeholder cover 'outreach init' made",
                "set [show] cover to the show's real artwork",
            )

    def integer(self, element: str, elem: Any, *, minimum: int = 1) -> None:
        if elem is None:
            return
        text = (elem.text or "").strip()
        if not text.isdigit() or int(text) < minimum:
            self.error(
                "number-invalid",
                element,
                f"{text!r} is not a whole number ≥ {minimum}",
                "use e.g. 1, 2, 3",
            )

    def persons(self, where: str, parent: Any) -> None:
        for person in parent.findall("podcast:person", NAMESPACES):
            element = f"{where}/podcast:person"
            name = (person.text or "").strip()
            if not name:
                self.error("person-name", element, "empty name", "put the person's name inside")
            elif len(name) > 128:
                self.error("person-name", element, "name over 128 characters", "shorten it")
            self.person_role(element, person.get("role"), person.get("group"))
            for attribute in ("href", "img"):
                if person.get(attribute) is not None:
                    self.url(f"{element}@{attribute}", person.get(attribute))

    def person_role(self, element: str, role: str | None, group: str | None) -> None:
        """Role and group from the Podcast Taxonomy (both optional; defaults host and cast)."""
        group_key = (group or "cast").strip().lower()
        role_key = (role or "host").strip().lower()
        if group_key not in PERSON_ROLES:
            self.warning(
                "person-taxonomy",
                element,
                f'group="{group}" is not in the Podcast Taxonomy',
                'use a group such as cast, writing or "audio production" (see taxonomy.json)',
            )
            return
        if role_key not in PERSON_ROLES[group_key]:
            known = [g for g, roles in PERSON_ROLES.items() if role_key in roles]
            fix = (
                f'use group="{known[0]}" for this role'
                if known
                else f"use one of: {', '.join(sorted(PERSON_ROLES[group_key]))}"
            )
            self.warning(
                "person-taxonomy",
                element,
                f'role="{role}" is not a role of group "{group_key}" in the Podcast Taxonomy',
                fix,
            )
