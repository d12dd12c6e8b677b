"""Prometheus alerting rules for gatecam's metrics, with limits taken from the interval."""

from __future__ import annotations

from string import Template

from gatecam.service import deploy_file

# /healthz calls a stream unhealthy after this many intervals without a successful run.
STALE_INTERVALS = 3


def alert_rules(interval_minutes: float) -> str:
    """The shipped rules file, its staleness limit set to three archiving intervals."""
    stale_seconds = round(STALE_INTERVALS * interval_minutes * 60)
    return Template(deploy_file("alerts.yml")).substitute(
        stale_seconds=stale_seconds, stale_duration=f"{stale_seconds}s"
    )
