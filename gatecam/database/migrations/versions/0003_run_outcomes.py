"""runs that stored only part of their listing are counted apart; streams keep their last run

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatecam.database.models import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stream_counters") as batch:
        batch.add_column(
            sa.Column("partial_runs", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("last_run_at", UTCDateTime(), nullable=True))
    # Streams that ran before this revision keep their place in health's "ran lately".
    op.execute(
        "UPDATE stream_counters SET last_run_at = ("
        "SELECT max(coalesce(r.finished_at, r.started_at)) FROM download_runs r "
        "WHERE r.terminal = stream_counters.terminal "
        "AND r.camera_id = stream_counters.camera_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("stream_counters") as batch:
        batch.drop_column("last_run_at")
        batch.drop_column("partial_runs")
