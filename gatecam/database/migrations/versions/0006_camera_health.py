"""images carry camera health figures: a perceptual hash, brightness and contrast

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: rows archived before are measured later by `gatecam verify --rehash`.
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("dhash", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("brightness", sa.Float(), nullable=True))
        batch.add_column(sa.Column("contrast", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("contrast")
        batch.drop_column("brightness")
        batch.drop_column("dhash")
