"""reads that stay flat as the archive grows: run times on the stream counters, a paging index

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatecam.database.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RUNS = "FROM download_runs r WHERE r.terminal = c.terminal AND r.camera_id = c.camera_id"


def upgrade() -> None:
    with op.batch_alter_table("stream_counters") as batch:
        batch.add_column(sa.Column("first_run_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("last_success_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("images") as batch:
        batch.create_index("ix_images_timestamp_id", ["timestamp", "id"], unique=False)
    # A stream whose only run is still going has no counters yet; it gets its row now.
    op.execute(
        "INSERT INTO stream_counters (terminal, camera_id, total, total_runs, successful_runs,"
        " failed_runs, interrupted_runs, failed_downloads)"
        " SELECT DISTINCT terminal, camera_id, 0, 0, 0, 0, 0, 0 FROM download_runs r"
        " WHERE NOT EXISTS (SELECT 1 FROM stream_counters c"
        " WHERE c.terminal = r.terminal AND c.camera_id = r.camera_id)"
    )
    op.execute(
        "UPDATE stream_counters AS c SET"
        f" first_run_at = (SELECT min(r.started_at) {_RUNS}),"
        f" last_run_at = (SELECT max(r.started_at) {_RUNS}),"
        " last_success_at = (SELECT max(coalesce(r.finished_at, r.started_at))"
        f" {_RUNS} AND r.status = 'success')"
    )


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_index("ix_images_timestamp_id")
    with op.batch_alter_table("stream_counters") as batch:
        batch.drop_column("last_success_at")
        batch.drop_column("first_run_at")
