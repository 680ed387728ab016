"""Per-recipient fields of a rendered edition: the placeholders, the recipient, and filling them in.

An edition is rendered once per language with placeholders (`@@name@@`, `@@greeting@@`, `@@email@@`,
`@@unsubscribe_url@@`) that survive MJML; `personalize` fills them into the rendered HTML and text
for each recipient, never by rendering MJML again. `check_rendered` is the gate every rendered or
hand-edited edition passes before it is written or sent.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass

from outreach.errors import ComposeError

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
PLACEHOLDER = re.compile(r"@@(name|greeting|email|unsubscribe_url)@@")
UNSUBSCRIBE_PLACEHOLDER = "@@unsubscribe_url@@"
GREETINGS = {"sv": ("Hej {name}!", "Hej!"), "en": ("Hello {name},", "Hello,")}
# A realistic recipient for the size check, the preview and test sends.
SAMPLE_RECIPIENT = {
    "name": "Anna Exempel-Lindqvist",
    "email": "anna.exempel-lindqvist@kommun.example.se",
}


@dataclass(frozen=True)
class Recipient:
    name: str | None
    email: str
    unsubscribe_url: str


@functools.lru_cache(maxsize=256)
def _pieces(template: str) -> tuple[str, ...]:
    """A rendered edition split at its placeholders (odd items are field names), once per text."""
    return tuple(PLACEHOLDER.split(template))


def personalize(template: str, recipient: Recipient, language: str, *, is_html: bool) -> str:
    """Fill the recipient's fields into rendered HTML (escaped) or text (as is)."""
    with_name, without_name = GREETINGS.get(language, GREETINGS[DEFAULT_LANGUAGE])
    values = {
        "name": recipient.name or "",
        # Greet by first name, as a person would write: "Hej Anna!".
        "greeting": (
            with_name.format(name=recipient.name.split()[0])
            if recipient.name and recipient.name.strip()
            else without_name
        ),
        "email": recipient.email,
        "unsubscribe_url": recipient.unsubscribe_url,
    }
    if is_html:
        values = {k: html.escape(v, quote=True) for k, v in values.items()}
    pieces = _pieces(template)
    return "".join(values[p] if i % 2 else p for i, p in enumerate(pieces))


def html_size(html_text: str) -> int:
    """Bytes of the HTML filled for a realistic recipient (what Gmail's clip limit counts)."""
    sample = Recipient(SAMPLE_RECIPIENT["name"], SAMPLE_RECIPIENT["email"], "https://x" + "y" * 120)
    return len(personalize(html_text, sample, DEFAULT_LANGUAGE, is_html=True).encode("utf-8"))


def check_rendered(html_text: str, text: str, *, max_bytes: int, where: str) -> None:
    """Refuse an edition Gmail would clip, or one without a working unsubscribe link."""
    if f'href="{UNSUBSCRIBE_PLACEHOLDER}"' not in html_text:
        raise ComposeError(
            f"{where}: the HTML has no unsubscribe link (a link to {{{{ recipient.unsubscribe_url }}}})"
        )
    if UNSUBSCRIBE_PLACEHOLDER not in text:
        raise ComposeError(
            f"{where}: the text part has no unsubscribe link ({{{{ recipient.unsubscribe_url }}}})"
        )
    size = html_size(html_text)
    if size >= max_bytes:
        raise ComposeError(
            f"{where}: the HTML is {size:,} bytes; Gmail clips messages from {max_bytes:,} bytes "
            "([newsletter] max_html_bytes). Shorten the intro or leave items out."
        )
