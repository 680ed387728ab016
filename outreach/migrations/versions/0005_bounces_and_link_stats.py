"""bounce events (bounces and complaints read from the mailbox) and per-edition link clicks

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bounce_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("edition_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_bounce_events_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_bounce_events_subscriber_id_subscribers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            name=op.f("fk_bounce_events_edition_id_editions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounce_events")),
        sa.UniqueConstraint("message_key", name=op.f("uq_bounce_events_message_key")),
    )
    for column in ("delivery_id", "subscriber_id", "edition_id"):
        op.create_index(
            op.f(f"ix_bounce_events_{column}"), "bounce_events", [column], unique=False
        )
    op.create_table(
        "edition_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edition_slug", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edition_links")),
        sa.UniqueConstraint(
            "edition_slug", "position", name=op.f("uq_edition_links_edition_slug")
        ),
    )
    op.create_index(
        op.f("ix_edition_links_edition_slug"), "edition_links", ["edition_slug"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_edition_links_edition_slug"), table_name="edition_links")
    op.drop_table("edition_links")
    for column in ("delivery_id", "subscriber_id", "edition_id"):
        op.drop_index(op.f(f"ix_bounce_events_{column}"), table_name="bounce_events")
    op.drop_table("bounce_events")
