"""Discovery recipes in the database: one per terminal, shared by every instance and host."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete, select, update

from gatecam.database.dialects import insert_statement
from gatecam.database.engine import Database
from gatecam.database.models import DiscoveryRecipe, utcnow
from gatecam.model import Recipe


def _recipe(row: DiscoveryRecipe) -> Recipe:
    return Recipe(
        terminal=row.terminal,
        method=row.method,
        url_template=row.url_template,
        headers=json.loads(row.headers),
        body_template=row.body_template,
        learned_at=row.learned_at,
        checked_at=row.checked_at,
        learned_by=row.learned_by,
    )


class RecipeStore:
    """Reads and writes recipes, each call its own short transaction.

    It is the RecipeBook a source's lister is lent (gatecam.sources.base).
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, terminal: str) -> Recipe | None:
        with self.db.session_scope() as session:
            row = session.get(DiscoveryRecipe, terminal)
            return None if row is None else _recipe(row)

    def save(self, recipe: Recipe) -> None:
        """Keep ``recipe`` for its terminal, replacing whichever one was there."""
        now = utcnow()
        values = {
            "terminal": recipe.terminal,
            "method": recipe.method,
            "url_template": recipe.url_template,
            "headers": json.dumps(recipe.headers, sort_keys=True),
            "body_template": recipe.body_template,
            "learned_at": recipe.learned_at or now,
            "checked_at": recipe.checked_at or now,
            "learned_by": recipe.learned_by,
        }
        with self.db.session_scope() as session:
            stmt = insert_statement(session, DiscoveryRecipe.__table__).values(**values)
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["terminal"],
                    set_={k: v for k, v in values.items() if k != "terminal"},
                )
            )

    def drop(self, recipe: Recipe) -> bool:
        """Forget ``recipe``; one another instance has learned since is left alone."""
        with self.db.session_scope() as session:
            result = session.execute(
                delete(DiscoveryRecipe).where(
                    DiscoveryRecipe.terminal == recipe.terminal,
                    DiscoveryRecipe.url_template == recipe.url_template,
                    DiscoveryRecipe.headers == json.dumps(recipe.headers, sort_keys=True),
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def checked(self, recipe: Recipe, when: datetime) -> None:
        """Record that a browser listing agreed with ``recipe`` at ``when``."""
        with self.db.session_scope() as session:
            session.execute(
                update(DiscoveryRecipe)
                .where(
                    DiscoveryRecipe.terminal == recipe.terminal,
                    DiscoveryRecipe.url_template == recipe.url_template,
                )
                .values(checked_at=when)
            )

    def all(self) -> list[Recipe]:
        with self.db.session_scope() as session:
            rows = session.scalars(select(DiscoveryRecipe).order_by(DiscoveryRecipe.terminal))
            return [_recipe(row) for row in rows]


class PassRecipes(RecipeStore):
    """A RecipeStore that reads each terminal's recipe once per pass (one tick, say).

    Every stream of a terminal shares its recipe, so a tick over 1,000 streams need not ask
    the database 1,000 times. Writes go through at once and forget what was read, so the
    pass's next listing reads what it (or another instance meanwhile) made of the recipe.
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._read: dict[str, Recipe | None] = {}

    def load(self, terminal: str) -> Recipe | None:
        if terminal not in self._read:
            self._read[terminal] = super().load(terminal)
        return self._read[terminal]

    def save(self, recipe: Recipe) -> None:
        self._read.pop(recipe.terminal, None)
        super().save(recipe)

    def drop(self, recipe: Recipe) -> bool:
        self._read.pop(recipe.terminal, None)
        return super().drop(recipe)

    def checked(self, recipe: Recipe, when: datetime) -> None:
        self._read.pop(recipe.terminal, None)
        super().checked(recipe, when)
