"""What `gatecam verify` found and what it repaired, and the lines it prints about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gatecam.database.archive_queries import StoredRow

# Example paths printed per kind of problem.
EXAMPLES = 10


@dataclass
class VerifyReport:
    """What `gatecam verify` found, and what ``--repair`` did about it."""

    checked_rows: int = 0
    checked_files: int = 0
    missing: list[str] = field(default_factory=list)
    # Keys of stored images no row knows.
    orphans: list[str] = field(default_factory=list)
    mismatches: list[tuple[str, str]] = field(default_factory=list)
    # Where stale partial writes are, for people (full paths).
    partials: list[str] = field(default_factory=list)
    # Rows marked missing earlier whose file is there again (restored from a backup, or
    # a disk that was not mounted): repair clears the mark, so marking is reversible.
    reappeared: list[str] = field(default_factory=list)
    # Symlinks and special files in the archive folder: never indexed nor served.
    unsafe: list[tuple[str, str]] = field(default_factory=list)
    # Image keys holding bytes that are not a complete JPEG, with no row: never indexed.
    not_images: list[tuple[str, str]] = field(default_factory=list)
    # Foreign files and folders (not images, nor gatecam's own): reported, left alone, not a
    # problem: the folder may be shared with other files.
    strays: list[tuple[str, str]] = field(default_factory=list)
    repaired_orphans: int = 0
    marked_missing: int = 0
    removed_partials: int = 0
    cleared_missing: int = 0
    quarantined_unsafe: int = 0
    quarantined_not_images: int = 0
    accepted_changed: int = 0
    quarantined_changed: int = 0
    # Where quarantined entries went, once one did.
    quarantine: str | None = None
    # The rows behind ``mismatches`` that --accept-changed / --quarantine-changed may settle.
    changed_rows: list[tuple[StoredRow, str]] = field(default_factory=list, repr=False)

    @property
    def problems(self) -> int:
        """How many problems are left unrepaired (changed files only when asked)."""
        unrepaired = (
            len(self.missing) - self.marked_missing,
            len(self.orphans) - self.repaired_orphans,
            len(self.partials) - self.removed_partials,
            len(self.reappeared) - self.cleared_missing,
            len(self.unsafe) - self.quarantined_unsafe,
            len(self.not_images) - self.quarantined_not_images,
            len(self.mismatches) - self.accepted_changed - self.quarantined_changed,
        )
        return sum(unrepaired)

    @property
    def consistent(self) -> bool:
        """True when nothing is left unrepaired."""
        return self.problems == 0

    def summary_lines(self) -> list[str]:
        """A few lines for people: counts, and up to ten example paths per problem."""
        lines = [f"checked {self.checked_rows} database rows and {self.checked_files} files"]
        problems: list[tuple[str, list[Any], int, str]] = [
            ("rows whose file is gone", self.missing, self.marked_missing, "marked missing"),
            ("files with no row", self.orphans, self.repaired_orphans, "indexed"),
            ("leftover .part files", self.partials, self.removed_partials, "removed"),
            (
                "files back for rows marked missing",
                self.reappeared,
                self.cleared_missing,
                "mark cleared",
            ),
            (
                "symlinks and special files (never indexed or served)",
                _reasons(self.unsafe),
                self.quarantined_unsafe,
                "quarantined",
            ),
            (
                "files with no row that are not complete JPEGs (not indexed)",
                _reasons(self.not_images),
                self.quarantined_not_images,
                "quarantined",
            ),
        ]
        for title, items, repaired, verb in problems:
            if items:
                done = f" ({repaired} {verb})" if repaired else ""
                lines.append(f"{title}: {len(items)}{done}")
                lines += _examples(items)
        if self.strays:
            lines.append(f"foreign files, not gatecam's (left alone): {len(self.strays)}")
            lines += _examples(_reasons(self.strays))
        if self.mismatches:
            count = len(self.mismatches)
            lines.append(f"files that differ from their row: {count}{self._settled()}")
            lines += _examples(_reasons(self.mismatches))
        if self.quarantine is not None:
            lines.append(f"quarantined into {self.quarantine}")
        changed_left = len(self.mismatches) - self.accepted_changed - self.quarantined_changed
        if self.consistent:
            lines.append("consistent")
        elif changed_left and changed_left == self.problems:
            lines.append(
                "NOT consistent: the differing files need a person to look at them, then "
                "`gatecam verify --accept-changed` (keep their bytes) or `--quarantine-changed`"
            )
        else:
            lines.append("NOT consistent: run `gatecam verify --repair` to fix what can be fixed")
        return lines

    def _settled(self) -> str:
        if self.accepted_changed:
            return f" ({self.accepted_changed} accepted as they are now)"
        if self.quarantined_changed:
            return f" ({self.quarantined_changed} quarantined, their rows marked missing)"
        return " (left as they are: the bytes on disk may be the only copy)"


def _reasons(items: list[tuple[str, str]]) -> list[str]:
    return [f"{path}: {reason}" for path, reason in items]


def _examples(items: list[Any]) -> list[str]:
    lines = [f"  {item}" for item in items[:EXAMPLES]]
    if len(items) > EXAMPLES:
        lines.append(f"  ... and {len(items) - EXAMPLES} more")
    return lines
