"""The double opt-in mail: one message with the signed, expiring confirmation link."""

from __future__ import annotations

from outreach.errors import MailError
from outreach.workspace import Workspace

TEXTS = {
    "sv": {
        "subject": "Bekräfta din prenumeration: {list}",
        "greeting": "Hej{name}!",
        "body": (
            "Någon, förhoppningsvis du, har anmält den här adressen till nyhetsbrevet {list}.\n\n"
            "Bekräfta prenumerationen genom att öppna länken:\n\n{link}\n\n"
            "Länken gäller i {hours} timmar. Om du inte har anmält dig kan du strunta i det här "
            "mejlet: du får inga utskick utan att bekräfta."
        ),
    },
    "en": {
        "subject": "Confirm your subscription: {list}",
        "greeting": "Hello{name},",
        "body": (
            "Someone, hopefully you, signed this address up for the newsletter {list}.\n\n"
            "Confirm your subscription by opening this link:\n\n{link}\n\n"
            "The link is valid for {hours} hours. If you did not sign up, ignore this message: "
            "you will get nothing unless you confirm."
        ),
    },
}


def confirmation_text(
    list_name: str, name: str | None, language: str, link: str, hours: int
) -> tuple[str, str]:
    """(subject, plain-text body) in the subscriber's language (Swedish by default)."""
    texts = TEXTS.get(language, TEXTS["sv"])
    greeting = texts["greeting"].format(name=f" {name}" if name else "")
    body = texts["body"].format(list=list_name, link=link, hours=hours)
    return texts["subject"].format(list=list_name), f"{greeting}\n\n{body}\n"


def send_confirmation(
    workspace: Workspace, email: str, *, name: str | None, language: str, link: str
) -> None:
    """Send the confirmation mail through the workspace's transport; MailError if it is not sent."""
    from outreach.mail.message import build_message, message_bytes
    from outreach.mail.transport import open_transport

    settings = workspace.settings.newsletter
    subject, text = confirmation_text(
        settings.name, name, language, link, workspace.settings.web.confirm_link_hours
    )
    message = build_message(
        sender=settings.from_address,
        to=email,
        subject=subject,
        text=text,
        reply_to=settings.reply_to or None,
        # Not a list message: no List-Unsubscribe, the recipient has not subscribed yet.
        headers={"Auto-Submitted": "auto-generated"},
    )
    # Bounces of a confirmation go to the bounce mailbox too, where `bounces fetch` marks an
    # address that does not exist as bounced before anyone sends it another confirmation.
    bounce_address = workspace.settings.mail.bounce_address
    with open_transport(workspace) as transport:
        if bounce_address:
            result = transport.send_bytes(
                bounce_address, [email], message_bytes(message), message["Message-ID"]
            )
        else:
            result = transport.send(message)
    if not result.ok:
        raise MailError(f"the confirmation mail was not accepted: {result.code} {result.detail}")
