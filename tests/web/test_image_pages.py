"""A page of /api/images is drawn once per state of the archive, and never outlives it."""

from __future__ import annotations

from datetime import timedelta

import httpx

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.model import ImageRecord
from tests.web.conftest import IN_GATE


def test_an_image_stored_after_a_page_was_drawn_is_on_the_next_answer(
    client: httpx.Client, database: Database
) -> None:
    last = max(IN_GATE)
    params = {"stream": "in_gate", "from": (last - timedelta(minutes=1)).isoformat()}

    def page() -> list[str]:
        answer = client.get("/api/images", params=params)
        assert answer.status_code == 200, answer.text
        return [item["timestamp"] for item in answer.json()["items"]]

    assert page() == page() == [last.isoformat()]
    later = last + timedelta(minutes=10)
    with database.session_scope() as session:
        record = ImageRecord("apm", "in_gate", "apm/in_gate/late.jpg", later, 1000)
        queries.insert_images(session, [record])
    assert page() == [last.isoformat(), later.isoformat()]
