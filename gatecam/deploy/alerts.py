"""Prometheus alerting rules for gatecam's metrics: one rule per stream state, judged once."""

from __future__ import annotations

from string import Template

from gatecam.deploy.service import deploy_file


def alert_rules(interval_minutes: float) -> str:
    """The shipped rules file. A state must hold for one archiving interval before it fires:
    /healthz turns at once, an alert waits for the next run to confirm it."""
    return Template(deploy_file("alerts.yml")).substitute(settle=f"{round(interval_minutes * 60)}s")
