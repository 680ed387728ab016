"""GDPR access: everything stored about a subscriber (or all of them) as JSON."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Delivery, Subscriber
from outreach.subscribers.store import find_subscriber, list_subscribers


def subscriber_record(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Everything stored about one subscriber (GDPR access request)."""
    deliveries = session.scalars(
        select(Delivery).where(Delivery.subscriber_id == subscriber.id).order_by(Delivery.id)
    ).all()
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "organisation": subscriber.organisation,
        "segments": subscriber.segments,
        "language": subscriber.language,
        "status": subscriber.status,
        "created_at": subscriber.created_at.isoformat(),
        "updated_at": subscriber.updated_at.isoformat(),
        "consent_events": [
            {
                "action": e.action,
                "source": e.source,
                "detail": e.detail,
                "at": e.created_at.isoformat(),
            }
            for e in sorted(subscriber.consent_events, key=lambda e: e.id)
        ],
        "deliveries": [
            {
                "edition_id": d.edition_id,
                "status": d.status,
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            }
            for d in deliveries
        ],
    }


def export_subscribers(session: Session, key: str | None = None) -> str:
    """JSON of one subscriber (by id or address) or all of them."""
    if key:
        records: Any = subscriber_record(session, find_subscriber(session, key))
    else:
        records = [subscriber_record(session, s) for s in list_subscribers(session)]
    return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
