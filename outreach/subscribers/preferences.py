"""What a subscriber changes on the preference page: segments, language, leaving, coming back.

The page is reached with the signed permanent link of every mail (`/u/<token>`); each change is
one consent event, so the history says who chose what and when.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.orm import Session

from outreach.models import Subscriber
from outreach.subscribers.fields import normalize_language, normalize_segments
from outreach.subscribers.store import record_consent, set_segments, set_status

RESUBSCRIBABLE = ("unsubscribed",)


def update_preferences(
    session: Session,
    subscriber: Subscriber,
    *,
    segments: Iterable[str],
    language: str,
    allowed_segments: Mapping[str, str],
    source: str = "web:preferences",
) -> list[str]:
    """Set segments and language (validated); returns what changed ("segments", "language")."""
    keys = normalize_segments(list(segments), allowed_segments)
    chosen_language = normalize_language(language)
    email = subscriber.email or ""
    changed = []
    if set_segments(subscriber, keys):
        record_consent(session, subscriber, email, "segments", source, ", ".join(keys) or "inga")
        changed.append("segments")
    if subscriber.language != chosen_language:
        subscriber.language = chosen_language
        record_consent(session, subscriber, email, "language", source, chosen_language)
        changed.append("language")
    return changed


def resubscribe(session: Session, subscriber: Subscriber, source: str = "web:preferences") -> bool:
    """Come back after an unsubscribe, from the link in one's own mail; True if it changed."""
    if subscriber.status not in RESUBSCRIBABLE:
        return False
    return set_status(session, subscriber, "confirmed", source, "prenumererar igen")
