"""discovery recipes: how to list a terminal's cameras over plain HTTP, shared by instances

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatecam.database.models import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discovery_recipes",
        sa.Column("terminal", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("url_template", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body_template", sa.Text(), nullable=True),
        sa.Column("learned_at", UTCDateTime(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=True),
        sa.Column("learned_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("terminal", name=op.f("pk_discovery_recipes")),
    )


def downgrade() -> None:
    op.drop_table("discovery_recipes")
