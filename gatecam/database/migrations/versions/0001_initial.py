"""images, download runs and statistics counters

Revision ID: 0001
Revises:
Create Date: 2026-11-24 02:19:15.819632
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatecam.database.models import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "download_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("terminal", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("days", sa.String(length=255), nullable=False),
        sa.Column("discovered", sa.Integer(), nullable=False),
        sa.Column("downloaded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_download_runs")),
    )
    with op.batch_alter_table("download_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_download_runs_stream",
            ["terminal", "camera_id", "status", "started_at"],
            unique=False,
        )

    op.create_table(
        "images",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("terminal", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=True),
        sa.Column("filepath", sa.String(length=1024), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("thumbnail", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("missing_since", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("filepath", name=op.f("uq_images_filepath")),
        sa.UniqueConstraint(
            "terminal",
            "camera_id",
            "timestamp",
            name=op.f("uq_images_terminal_camera_id_timestamp"),
        ),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index(
            "ix_images_terminal_created_at", ["terminal", "created_at"], unique=False
        )

    op.create_table(
        "minute_counts",
        sa.Column("terminal", sa.String(length=64), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("terminal", "minute", "camera_id", name=op.f("pk_minute_counts")),
    )
    op.create_table(
        "stream_counters",
        sa.Column("terminal", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("last_download", UTCDateTime(), nullable=True),
        sa.Column("total_runs", sa.Integer(), nullable=False),
        sa.Column("successful_runs", sa.Integer(), nullable=False),
        sa.Column("failed_runs", sa.Integer(), nullable=False),
        sa.Column("failed_downloads", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("terminal", "camera_id", name=op.f("pk_stream_counters")),
    )


def downgrade() -> None:
    op.drop_table("stream_counters")
    op.drop_table("minute_counts")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_terminal_created_at")

    op.drop_table("images")
    with op.batch_alter_table("download_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_download_runs_stream")

    op.drop_table("download_runs")
