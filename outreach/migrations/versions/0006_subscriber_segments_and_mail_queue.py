"""subscribers: several segments each; a queue of confirmation and welcome mails

Revision ID: 0006
Revises: 0001
Create Date: 2026-12-07

The old single `subscribers.segment` value becomes one `subscriber_segments` row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriber_segments",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriber_segments_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "segment", name=op.f("pk_subscriber_segments")),
    )
    op.create_index(
        op.f("ix_subscriber_segments_segment"), "subscriber_segments", ["segment"], unique=False
    )
    op.execute(
        "INSERT INTO subscriber_segments (subscriber_id, segment) "
        "SELECT id, segment FROM subscribers WHERE segment IS NOT NULL AND segment <> ''"
    )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("segment")

    op.create_table(
        "subscriber_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriber_mails_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_mails")),
    )
    for column in ("subscriber_id", "email_hash", "status", "next_attempt_at", "finished_at"):
        op.create_index(
            op.f(f"ix_subscriber_mails_{column}"), "subscriber_mails", [column], unique=False
        )


def downgrade() -> None:
    op.drop_table("subscriber_mails")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segment", sa.String(length=40), nullable=True))
    op.execute(
        "UPDATE subscribers SET segment = (SELECT min(segment) FROM subscriber_segments "
        "WHERE subscriber_segments.subscriber_id = subscribers.id)"
    )
    op.drop_index(op.f("ix_subscriber_segments_segment"), table_name="subscriber_segments")
    op.drop_table("subscriber_segments")
