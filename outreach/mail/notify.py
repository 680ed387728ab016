"""Short notices to the editor (`[newsletter] editor_address`): a guest approved or suggested
changes, a scheduled send finished or paused. Plain text, marked as auto-generated."""

from __future__ import annotations

from collections.abc import Mapping

from outreach.errors import MailError
from outreach.mail.message import build_message
from outreach.mail.transport import open_transport
from outreach.workspace import Workspace


def notify_editor(workspace: Workspace, subject: str, body: str) -> bool:
    """Mail the editor; False when no `editor_address` is set. MailError if it is not accepted.

    Callers for whom the notice is a side matter (a guest's form, a finished send) catch the
    error and log it: a notice must never undo or hide the work it reports.
    """
    settings = workspace.settings.newsletter
    if not settings.editor_address.strip():
        return False
    message = build_message(
        sender=settings.from_address,
        to=settings.editor_address,
        subject=subject,
        text=body,
        # Auto-generated: vacation responders and ticket systems must not answer it.
        headers={"Auto-Submitted": "auto-generated"},
    )
    with open_transport(workspace) as transport:
        result = transport.send(message)
    if not result.ok:
        raise MailError(
            f"the notice to {settings.editor_address} was not accepted: {result.code} "
            f"{result.detail}"
        )
    return True


def send_outcome_notice(
    slug: str, subject: str, counts: Mapping[str, int], paused: str | None = None
) -> tuple[str, str]:
    """(subject, body) of the notice after a scheduled send: finished, or paused and why.

    `counts` are the edition's deliveries by state (the ledger's states: sent, skipped,
    failed_transient, failed_permanent, uncertain, queued, sending).
    """
    failed = counts.get("failed_transient", 0) + counts.get("failed_permanent", 0)
    pending = counts.get("queued", 0) + counts.get("sending", 0)
    summary = (
        f"Skickat: {counts.get('sent', 0)}, hoppade över: {counts.get('skipped', 0)}, "
        f"misslyckade: {failed}, osäkra: {counts.get('uncertain', 0)}"
        + (f", kvar att skicka: {pending}" if pending else "")
        + "."
    )
    if paused:
        title = f"Utskicket av {slug} har pausats"
        what = (
            f"Det schemalagda utskicket av {slug} ({subject}) pausades: {paused}\n\n"
            f"{summary}\n\nÅtgärda orsaken och fortsätt med: outreach newsletter send {slug}\n"
        )
    else:
        title = f"Utskicket av {slug} är klart"
        what = f"Det schemalagda utskicket av {slug} ({subject}) är klart.\n\n{summary}\n"
    return title, what + f"\noutreach newsletter status {slug}\n"
