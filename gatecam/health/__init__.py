"""What is true of each stream now: one definition for /healthz, the page, metrics and stats."""

from gatecam.health.state import Facts, Limits, State, Verdict, judge

__all__ = ["Facts", "Limits", "State", "Verdict", "judge"]
