"""Short notices to the editor (`[newsletter] editor_address`): a guest approved or suggested
changes, a scheduled send finished or paused. Plain text, marked as auto-generated."""

from __future__ import annotations

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
