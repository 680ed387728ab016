"""The data model: everything with a lifecycle lives here (SQLAlchemy 2 typed ORM).

Schema changes go through Alembic migrations in `outreach/migrations/`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores no zone, so we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON}


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="sv")
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    consent_events: Mapped[list[ConsentEvent]] = relationship(back_populates="subscriber")
    segment_rows: Mapped[list[SubscriberSegment]] = relationship(
        cascade="all, delete-orphan", order_by="SubscriberSegment.segment", lazy="selectin"
    )

    @property
    def segments(self) -> list[str]:
        """The segments this subscriber chose (`[subscribers] segments` keys), sorted."""
        return [row.segment for row in self.segment_rows]


class SubscriberSegment(Base):
    """One segment a subscriber belongs to; a subscriber may have several (or none: everything)."""

    __tablename__ = "subscriber_segments"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    segment: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class SubscriberMail(Base):
    """The queue of mails to one person: sign-up confirmations and welcomes.

    A form sign-up is stored as `request` (the form's fields) and applied by the queue's worker, so
    the form does the same work for every address. `status` goes queued → sending → sent, or
    skipped (nothing to send, `last_error` says why) or rejected (5xx). A transient failure stays
    queued with a later `next_attempt_at`: nothing is dropped.
    """

    __tablename__ = "subscriber_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(index=True)


class Suppression(Base):
    """An address that must never be mailed again, kept only as a hash (erased or hard-bounced)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConsentEvent(Base):
    """Append-only record of every consent change."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    subscriber: Mapped[Subscriber | None] = relationship(back_populates="consent_events")


class Edition(Base):
    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    edition_date: Mapped[dt.date] = mapped_column(Date)
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    segments: Mapped[list[str] | None] = mapped_column(JSON)
    composed_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # A scheduled send: `outreach run-due` sends the edition once this moment has passed.
    scheduled_at: Mapped[dt.datetime | None]
    scheduled_segments: Mapped[list[str] | None] = mapped_column(JSON)
    schedule_note: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """The send ledger: one row per (edition, subscriber)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("edition_id", "subscriber_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id"), index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[dt.datetime | None]


class Call(Base):
    """A funding call (utlysning)."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    funder: Mapped[str | None] = mapped_column(String(200))
    opens: Mapped[dt.date | None] = mapped_column(Date)
    closes: Mapped[dt.date | None] = mapped_column(Date)
    amount: Mapped[str | None] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(1000))
    audience: Mapped[str | None] = mapped_column(String(300))
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    starts: Mapped[dt.datetime]
    ends: Mapped[dt.datetime | None]
    location: Mapped[str | None] = mapped_column(String(300))
    online_url: Mapped[str | None] = mapped_column(String(1000))
    registration_url: Mapped[str | None] = mapped_column(String(1000))
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Recording(Base):
    """A recording of a past event."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(1000))
    recorded: Mapped[dt.date | None] = mapped_column(Date)
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Episode(Base):
    __tablename__ = "episodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    guid: Mapped[str] = mapped_column(String(300), unique=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    number: Mapped[int | None]
    season: Mapped[int | None]
    episode_type: Mapped[str] = mapped_column(String(20), default="full")
    summary: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="sv")
    explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    published_at: Mapped[dt.datetime | None]
    cover: Mapped[str | None] = mapped_column(String(500))
    chapters: Mapped[str | None] = mapped_column(String(500))
    audio: Mapped[str | None] = mapped_column(String(500))
    enclosure_url: Mapped[str | None] = mapped_column(String(1000))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    byte_size: Mapped[int | None]
    loudness_lufs: Mapped[float | None] = mapped_column(Float)
    true_peak_dbtp: Mapped[float | None] = mapped_column(Float)
    loudness_range_lu: Mapped[float | None] = mapped_column(Float)
    # SHA-256 of the MP3 as measured by `normalize`: the publish gate refuses a changed file.
    audio_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    tracks: Mapped[list[Track]] = relationship(
        back_populates="episode", order_by="Track.position", cascade="all, delete-orphan"
    )
    people: Mapped[list[Person]] = relationship(
        back_populates="episode", order_by="Person.id", cascade="all, delete-orphan"
    )
    transcripts: Mapped[list[Transcript]] = relationship(
        back_populates="episode",
        order_by="Transcript.version",
        cascade="all, delete-orphan",
        foreign_keys="Transcript.episode_id",
    )


class Track(Base):
    """One source audio file of an episode; several tracks = one track per speaker."""

    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    position: Mapped[int]
    path: Mapped[str] = mapped_column(String(500))
    speaker: Mapped[str | None] = mapped_column(String(200))

    episode: Mapped[Episode] = relationship(back_populates="tracks")


class Person(Base):
    """A guest or host of an episode."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default="guest")
    consent_named: Mapped[bool] = mapped_column(Boolean, default=False)

    episode: Mapped[Episode] = relationship(back_populates="people")


class Transcript(Base):
    """One version of an episode's transcript. Versions are never overwritten."""

    __tablename__ = "transcripts"
    __table_args__ = (UniqueConstraint("episode_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    version: Mapped[int]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("transcripts.id"))
    author: Mapped[str] = mapped_column(String(320))
    engine: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(500))
    model_hash: Mapped[str | None] = mapped_column(String(64))
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    diff: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    episode: Mapped[Episode] = relationship(back_populates="transcripts", foreign_keys=[episode_id])


class ReviewRequest(Base):
    """A guest's personal review link. The nonce is in the signed token; revoking sets revoked_at."""

    __tablename__ = "review_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(30), default="not_sent")
    sent_at: Mapped[dt.datetime | None]
    opened_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReviewDecision(Base):
    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_request_id: Mapped[int] = mapped_column(
        ForeignKey("review_requests.id", ondelete="CASCADE")
    )
    transcript_id: Mapped[int | None] = mapped_column(ForeignKey("transcripts.id"))
    base_transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id"))
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Meta(Base):
    """Small persistent facts, such as the feed's podcast:guid (computed once, then kept)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class BounceEvent(Base):
    """A bounce or complaint read from the bounce mailbox; one row per message (idempotent).

    `message_key` is the SHA-256 of the raw message, so reading the same mailbox twice records
    nothing new. `detail` holds the status code or feedback type, never the address.
    """

    __tablename__ = "bounce_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # hard, soft, complaint
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    edition_id: Mapped[int | None] = mapped_column(
        ForeignKey("editions.id", ondelete="SET NULL"), index=True
    )
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EditionLink(Base):
    """A link of an edition counted through /l/<edition>/<n>: clicks per link, nobody's identity."""

    __tablename__ = "edition_links"
    __table_args__ = (UniqueConstraint("edition_slug", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_slug: Mapped[str] = mapped_column(String(80), index=True)
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2000))
    clicks: Mapped[int] = mapped_column(Integer, default=0)
