"""runs say which host and process ran them and what each discovery strategy found

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("download_runs") as batch:
        batch.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("found_by", sa.Text(), nullable=True))
    with op.batch_alter_table("stream_counters") as batch:
        batch.add_column(
            sa.Column("interrupted_runs", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("stream_counters") as batch:
        batch.drop_column("interrupted_runs")
    with op.batch_alter_table("download_runs") as batch:
        batch.drop_column("found_by")
        batch.drop_column("pid")
        batch.drop_column("host")
