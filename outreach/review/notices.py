"""The editor's notice when a guest approves a transcript or suggests changes (in Swedish)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from outreach.db import session_scope
from outreach.errors import OutreachError
from outreach.mail.notify import notify_editor
from outreach.models import Episode, Person, ReviewRequest
from outreach.workspace import Workspace

if TYPE_CHECKING:  # only its fields are read, so this module does not depend on where it lives
    from outreach.review.merge import SubmitResult

log = logging.getLogger(__name__)


def submission_notice(
    episode: Episode, guest: str, result: SubmitResult, comment: str
) -> tuple[str, str] | None:
    """(subject, body) for what a guest just did, or None when there is nothing to tell."""
    comment = comment.strip()
    if result.approved:
        subject = f"{guest} har godkänt transkriptet: {episode.title}"
        what = f"{guest} har godkänt transkriptet av {episode.title}."
    elif result.version is not None or comment:
        subject = f"{guest} föreslår ändringar: {episode.title}"
        what = f"{guest} har granskat transkriptet av {episode.title}."
        if result.version is not None:
            what += (
                f" Ändringarna finns i version {result.version.version} "
                f"({len(result.proposed)} segment)."
            )
    else:
        return None
    body = what + "\n\n"
    if comment:
        body += "Kommentar:\n" + "\n".join(f"> {line}" for line in comment.splitlines()) + "\n\n"
    body += (
        f"outreach review status {episode.slug}\n"
        f"outreach review diff {episode.slug}\n"
        f"outreach review accept {episode.slug}\n"
    )
    return subject, body


def notify_submission(
    workspace: Workspace, request: ReviewRequest, result: SubmitResult, comment: str
) -> None:
    """Tell the editor about a saved submission (after its commit); failures are only logged."""
    if not workspace.settings.newsletter.editor_address.strip():
        return
    try:
        with session_scope(workspace) as session:
            episode = session.get_one(Episode, request.episode_id)
            person = session.get_one(Person, request.person_id)
            notice = submission_notice(episode, person.name, result, comment)
        if notice is not None:
            notify_editor(workspace, *notice)
    except OutreachError:
        log.exception("review: the notice to the editor could not be sent")
