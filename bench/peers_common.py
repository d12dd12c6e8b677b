"""What bench/peers.py's comparisons share: the result line, tools found or not, processes."""

from __future__ import annotations

import os
import shutil
import statistics
from dataclasses import dataclass

# The columns every comparison prints, in this order.
HEADER = f"{'':<38} {'gatecam':>10} {'peer/limit':>10} {'':<5} {'ratio':>7}  target"


@dataclass(frozen=True)
class Line:
    """One printed comparison: gatecam's median against a peer's (or a limit's).

    ``at_most`` targets bound gatecam/peer from above (times); ``at_least`` from below
    (rates). A line with no target is printed for the record, as ``-``.
    """

    label: str
    ours: float
    peer: float
    unit: str
    at_most: float | None = None
    at_least: float | None = None

    @property
    def ratio(self) -> float:
        return self.ours / self.peer if self.peer else float("inf")

    @property
    def met(self) -> bool | None:
        if self.at_most is not None:
            return self.ratio <= self.at_most
        if self.at_least is not None:
            return self.ratio >= self.at_least
        return None

    def __str__(self) -> str:
        if self.at_most is not None:
            target = f"<= {self.at_most:g}x"
        elif self.at_least is not None:
            target = f">= {self.at_least:g}x"
        else:
            target = "-"
        verdict = {True: "met", False: "MISSED", None: ""}[self.met]
        return (
            f"{self.label:<38} {self.ours:>10.3f} {self.peer:>10.3f} {self.unit:<5} "
            f"{self.ratio:>6.2f}x  {target:<8} {verdict}"
        ).rstrip()


@dataclass(frozen=True)
class Figure:
    """A line with one figure against an absolute bound (req/s, ms), no peer."""

    label: str
    value: float
    unit: str
    at_most: float | None = None
    at_least: float | None = None

    @property
    def met(self) -> bool | None:
        if self.at_most is not None:
            return self.value <= self.at_most
        if self.at_least is not None:
            return self.value >= self.at_least
        return None

    def __str__(self) -> str:
        if self.at_most is not None:
            target = f"<= {self.at_most:g} {self.unit}"
        elif self.at_least is not None:
            target = f">= {self.at_least:g} {self.unit}"
        else:
            target = "-"
        verdict = {True: "met", False: "MISSED", None: ""}[self.met]
        return (
            f"{self.label:<38} {self.value:>10.1f} {'':>10} {self.unit:<5} {'':>7}  "
            f"{target:<8} {verdict}"
        ).rstrip()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def missing(tool: str) -> str | None:
    """None if ``tool`` is on PATH, else the line the bench prints instead of measuring it."""
    return None if shutil.which(tool) else f"skipped: {tool} not installed"


def spread(values: list[float]) -> str:
    """The range of the rounds, so a reader sees how far the machine's moments moved them."""
    return f"{min(values):.0f}-{max(values):.0f}" if values else "-"


def load_average() -> float:
    """The machine's 1-minute load average: others' work on the shared 2 cores."""
    return os.getloadavg()[0]
