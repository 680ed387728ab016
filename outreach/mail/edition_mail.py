"""One recipient's message of an edition, built from the edition rendered once (no MJML here).

The bodies are quoted-printable encoded once per language (`QuotedPrintableTemplate`); per
recipient only the lines with placeholders are filled and encoded. The Message-ID is derived from
(list, edition, subscriber), so a re-sent uncertain message carries the same id.
"""

from __future__ import annotations

import datetime as dt
import uuid

from outreach.mail.ledger import Addressee
from outreach.mail.message import PreparedMessage, QuotedPrintableTemplate, parse_address
from outreach.newsletter.edition import LoadedEdition
from outreach.newsletter.personalize import PLACEHOLDER, Recipient, personalize
from outreach.subscribers import store as subs
from outreach.timeutil import zone
from outreach.urls import archive_url, unsubscribe_url
from outreach.workspace import Workspace


def _message_id(list_id: str, slug: str, subscriber_id: int, domain: str) -> str:
    """Stable per (list, edition, subscriber): a re-sent uncertain message keeps its Message-ID."""
    return f"<{uuid.uuid5(uuid.NAMESPACE_URL, f'{list_id}/{slug}/{subscriber_id}').hex}@{domain}>"


class MessageFactory:
    """Builds one recipient's message from the edition rendered once (no MJML here)."""

    def __init__(
        self,
        workspace: Workspace,
        edition: LoadedEdition,
        key: str | None,
        subject_prefix: str = "",
    ) -> None:
        settings = workspace.settings.newsletter
        self.workspace = workspace
        self.edition = edition
        self.key = key
        self.sender = parse_address(settings.from_address)
        self.list_key = settings.list_id
        self.mailto = (
            f"mailto:{settings.unsubscribe_mailto}?subject=unsubscribe"
            if settings.unsubscribe_mailto
            else None
        )
        self.tz = zone(settings.timezone)
        archive = archive_url(workspace, edition.slug)
        self.prepared = {
            language: PreparedMessage(
                sender=self.sender,
                subject=subject_prefix + subject,
                reply_to=settings.reply_to or None,
                list_id=f"{settings.name} <{settings.list_id}>",
                one_click=True,
                headers={"List-Archive": f"<{archive}>"},
            )
            for language, subject in edition.subjects.items()
        }
        # Most of each body is the same for everyone: encoded once (see QuotedPrintableTemplate).
        self.bodies = {
            language: (
                QuotedPrintableTemplate(edition.text[language], PLACEHOLDER),
                QuotedPrintableTemplate(edition.html[language], PLACEHOLDER),
            )
            for language in edition.subjects
        }

    def message_id(self, addressee: Addressee) -> str:
        return _message_id(self.list_key, self.edition.slug, addressee.id, self.sender.domain)

    def build(
        self,
        addressee: Addressee,
        *,
        unsubscribe: str | None = None,
        language: str | None = None,
        message_id: str | None = None,
    ) -> bytes:
        """The wire bytes of the edition for one recipient."""
        if unsubscribe is None:
            assert self.key is not None
            token = subs.unsubscribe_token_for(self.key, addressee.id, addressee.email)
            unsubscribe = unsubscribe_url(self.workspace, token)
        lang = self.edition.language_for(language or addressee.language)
        recipient = Recipient(addressee.name, addressee.email, unsubscribe)
        text_body, html_body = self.bodies[lang]
        return self.prepared[lang].render(
            to_name=addressee.name,
            to_address=addressee.email,
            text=text_body.encode(lambda line: personalize(line, recipient, lang, is_html=False)),
            html=html_body.encode(lambda line: personalize(line, recipient, lang, is_html=True)),
            list_unsubscribe=[unsubscribe] + ([self.mailto] if self.mailto else []),
            message_id=message_id or self.message_id(addressee),
            date=dt.datetime.now(self.tz),
        )
