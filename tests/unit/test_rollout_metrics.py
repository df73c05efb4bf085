"""/metrics carries the active rollout's phase checks: each arm's figure, the difference, its always-valid bounds,
and whether the check failed; nothing once no rollout is active."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import generate_latest

from adapters.http.metrics import Metrics
from tests.harness import build_harness
from tests.unit.test_serving import roll_out_v2


def scraped(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_the_phase_checks_of_the_active_rollout_are_exported_with_their_bounds() -> None:
    harness = build_harness()
    harness.register()
    roll_out_v2(harness)
    harness.clock.advance(timedelta(minutes=1))
    harness.serve("v2", 60, satisfied=20)
    harness.serve("v1", 600, satisfied=480)
    metrics = Metrics(ledger=harness.app.ledger, router=harness.app.router)

    metrics.rollout_checked(harness.app.rollouts.active_health())

    text = scraped(metrics)
    assert 'retrain_rollout_check{check="satisfaction",figure="failed"} 1.0' in text
    assert 'retrain_rollout_check{check="satisfaction",figure="candidate"} 0.333333' in text
    assert 'retrain_rollout_check{check="satisfaction",figure="stable"} 0.8' in text
    assert 'retrain_rollout_check{check="satisfaction",figure="high"}' in text
    assert 'retrain_rollout_check{check="latency",figure="failed"} 0.0' in text

    metrics.rollout_checked(None)
    assert "retrain_rollout_check{" not in scraped(metrics)
