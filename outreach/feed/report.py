"""What `feed build` reports: files written and removed, counts, warnings, validator problems,
and the feeds that could not be built (each on its own: one feed's failure never stops another)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from outreach.errors import FeedError
from outreach.feed.validate import Problem


class FeedInvalidError(FeedError):
    """The built feed failed validation; `problems` says where and how to fix it."""

    def __init__(self, message: str, problems: list[Problem], warnings: list[str]) -> None:
        super().__init__(message)
        self.problems = problems
        self.warnings = warnings


@dataclass(frozen=True)
class FeedFailure:
    """A feed that was not written, and why (one line)."""

    name: str
    message: str


@dataclass
class BuildReport:
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    episodes: int = 0
    editions: int = 0
    events: int = 0
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    failed: list[FeedFailure] = field(default_factory=list)
