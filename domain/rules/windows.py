"""Rule 4.1 reinforced monitoring: smaller windows for 7 days after a promotion or a restore."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.policy import TriggerPolicy


@dataclass(frozen=True)
class MonitoringWindows:
    reinforced: bool
    satisfaction: int
    satisfaction_min: int
    image_type: int
    image_type_min: int
    latency: int


def is_reinforced(now: datetime, serving_since: datetime | None, days: float) -> bool:
    """True within `days` after the version was promoted or restored."""
    return serving_since is not None and serving_since <= now < serving_since + timedelta(days=days)


def monitoring_windows(policy: TriggerPolicy, *, reinforced: bool) -> MonitoringWindows:
    """The window sizes in force: the normal ones, or the reinforced ones."""
    if reinforced:
        return MonitoringWindows(
            True,
            policy.reinforced_satisfaction_window,
            policy.reinforced_satisfaction_window,
            policy.reinforced_image_type_window,
            policy.reinforced_image_type_min,
            policy.reinforced_latency_window,
        )
    return MonitoringWindows(
        False,
        policy.satisfaction_window,
        policy.satisfaction_window,
        policy.image_type_window,
        policy.image_type_min,
        policy.latency_window,
    )
