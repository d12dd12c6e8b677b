"""missed_images: every image the site listed that is not stored, with its last reason

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatecam.database.models import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "missed_images",
        sa.Column("terminal", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("first_attempt", UTCDateTime(), nullable=False),
        sa.Column("last_attempt", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("unlisted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("terminal", "camera_id", "timestamp", name="pk_missed_images"),
    )


def downgrade() -> None:
    op.drop_table("missed_images")
