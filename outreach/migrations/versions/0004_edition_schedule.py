"""editions: scheduled sends (scheduled_at, scheduled_segments, schedule_note)

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.add_column(sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("scheduled_segments", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("schedule_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("schedule_note")
        batch.drop_column("scheduled_segments")
        batch.drop_column("scheduled_at")
