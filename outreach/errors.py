"""Domain errors. The core raises these; the CLI turns them into one-line messages and exit 1."""

from __future__ import annotations


class OutreachError(Exception):
    """An expected failure the user can act on. The message is shown as one line."""


class WorkspaceError(OutreachError):
    """The workspace is missing, or its settings are invalid."""


class ConfigError(OutreachError):
    """A setting or secret is missing or has the wrong type."""


class DatabaseError(OutreachError):
    """The database could not be opened, migrated or written (locked, corrupt, unreachable)."""


class NotFoundError(OutreachError):
    """A named thing (subscriber, episode, edition, call...) does not exist."""


class ValidationError(OutreachError):
    """Input (CSV, YAML, dates, addresses, uploaded files) failed validation."""


class ValidationProblems(ValidationError):
    """Several independent problems found in one pass (e.g. every invalid item of an import file),
    so a user fixes them all at once. The CLI prints one line for each."""

    def __init__(self, problems: list[str]) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)
        self.problems = problems


class AudioError(OutreachError):
    """Audio could not be decoded, measured or encoded."""


class TranscriptionError(OutreachError):
    """A transcription engine or model is missing or failed."""


class MailError(OutreachError):
    """A message could not be built or the transport failed in a way the user must fix."""


class FeedError(OutreachError):
    """A feed could not be built, validated or imported."""


class FetchError(FeedError):
    """A URL could not be fetched (HTTP error, timeout, too large). A FeedError for its callers,
    which today are all feed work."""


class TokenError(OutreachError):
    """A signed token is tampered, expired, revoked or for something else."""


class TokenExpiredError(TokenError):
    """A signed token was valid but is older than its lifetime."""


class TokenRevokedError(TokenError):
    """A signed token was valid but the link it stands for has been revoked."""


class ConcurrentUpdateError(DatabaseError):
    """Someone else saved the same thing at the same moment; the work was rolled back, retry it."""


class ComposeError(OutreachError):
    """An edition could not be composed: template or MJML errors, too large, no unsubscribe link."""
