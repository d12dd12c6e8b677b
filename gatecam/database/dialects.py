"""What the statements of several tables share: upserts in either dialect, UTC binds, minutes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gatecam.database.models import UTCDateTime

UTC_TYPE = UTCDateTime()


def insert_statement(session: Session, table: Any) -> Any:
    """An INSERT that takes ON CONFLICT: dialect syntax, spelled alike by both dialects."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt: Insert = module.insert(table)
    return stmt


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
