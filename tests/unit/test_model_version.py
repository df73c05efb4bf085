"""ModelVersion's guards for monitoring (4.1): one breach per episode, only while serving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.errors import IllegalTransition
from domain.model_version import ModelVersion

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def registered(label: str = "v1") -> ModelVersion:
    return ModelVersion(
        label=label, parent_id=None, architecture="digits-cnn", input_spec={"size": 8}, classes=["0", "1"],
        artifact_sha256="0" * 64, dataset_id=None, strategy=None, training_config={}, seed=None,
        training_metrics={}, baseline_ms=None, campaign_id=None, actor="user:test", timestamp=T0,
        architecture_options={},
    )


def in_production() -> ModelVersion:
    version = registered()
    version.promote(reason="registered as production", actor="user:test", timestamp=T0, initial=True)
    return version


def breach(version: ModelVersion, rule: str = "satisfaction", segment: str | None = None, **changes: Any) -> None:
    fields: dict[str, Any] = {
        "observed": 0.6, "threshold": 0.7, "window_size": 100, "window_start": T0, "window_end": T0,
        "evidence": {"satisfied": 60, "rated": 100}, "actor": "system:monitor", "timestamp": T0, **changes,
    }
    version.record_breach(rule=rule, segment=segment, **fields)


def recover(version: ModelVersion, rule: str = "satisfaction", segment: str | None = None) -> None:
    version.record_recovery(rule=rule, segment=segment, observed=0.8, threshold=0.7, window_size=100,
                            actor="system:monitor", timestamp=T0 + timedelta(days=1))


def event_names(version: ModelVersion) -> list[str]:
    return [type(e).__name__ for e in version.collect_events()]


def test_a_breach_on_production_records_threshold_breached_with_its_evidence() -> None:
    version = in_production()
    version.collect_events()
    breach(version)
    (event,) = version.collect_events()
    assert type(event).__name__ == "ThresholdBreached"
    assert (event.rule, event.segment, event.observed, event.threshold, event.window_size) == (
        "satisfaction", None, 0.6, 0.7, 100,
    )
    assert event.actor == "system:monitor"
    assert version.open_breaches["satisfaction"]["observed"] == 0.6


def test_recording_the_same_breach_twice_is_an_illegal_transition() -> None:
    version = in_production()
    breach(version)
    with pytest.raises(IllegalTransition, match="already breached"):
        breach(version, observed=0.5)


def test_a_breach_of_another_segment_is_another_episode() -> None:
    version = in_production()
    breach(version, "image_type", "phone")
    breach(version, "image_type", "scan")
    assert sorted(version.open_breaches) == ["image_type/phone", "image_type/scan"]


@pytest.mark.parametrize("state", ["registered", "validated"])
def test_a_breach_on_a_version_that_does_not_serve_is_refused(state: str) -> None:
    version = registered()
    if state == "validated":
        version.validate(parent_id="p", gates=[], figures={}, actor="system:campaign", timestamp=T0)
    with pytest.raises(IllegalTransition, match="cannot record a breach"):
        breach(version)


def test_a_breach_on_a_superseded_version_is_refused() -> None:
    version = in_production()
    version.supersede(by_version="v2", reason="rollout completed", actor="system:rollout", timestamp=T0)
    with pytest.raises(IllegalTransition):
        breach(version)


def test_a_canary_can_record_a_breach() -> None:
    version = registered("v2")
    version.validate(parent_id="p", gates=[], figures={}, actor="system:campaign", timestamp=T0)
    version.start_canary(rollout_id="r1", actor="system:rollout", timestamp=T0)
    breach(version)
    assert "satisfaction" in version.open_breaches


def test_a_recovery_closes_the_episode_so_a_new_breach_can_be_recorded() -> None:
    version = in_production()
    breach(version)
    recover(version)
    breach(version, timestamp=T0 + timedelta(days=2))
    assert event_names(version)[-3:] == ["ThresholdBreached", "ThresholdRecovered", "ThresholdBreached"]


def test_a_recovery_without_an_open_breach_is_refused() -> None:
    version = in_production()
    with pytest.raises(IllegalTransition, match="not breached"):
        recover(version)


def test_a_baseline_is_measured_once() -> None:
    version = in_production()
    version.measure_baseline(baseline_ms=12.5, sample_size=200, actor="system:monitor", timestamp=T0)
    assert version.baseline_ms == 12.5
    with pytest.raises(IllegalTransition, match="already has a latency baseline"):
        version.measure_baseline(baseline_ms=20.0, sample_size=200, actor="system:monitor", timestamp=T0)


def test_a_first_registration_as_production_does_not_start_reinforced_monitoring() -> None:
    assert in_production().reinforced_since is None


def test_a_promotion_through_a_rollout_starts_reinforced_monitoring_and_a_fresh_record() -> None:
    version = registered("v2")
    version.validate(parent_id="p", gates=[], figures={}, actor="system:campaign", timestamp=T0)
    version.start_canary(rollout_id="r1", actor="system:rollout", timestamp=T0)
    breach(version)
    later = T0 + timedelta(days=3)
    version.promote(reason="rollout completed", rollout_id="r1", actor="system:rollout", timestamp=later)
    assert (version.state, version.reinforced_since, version.open_breaches) == ("production", later, {})


def test_a_restore_starts_reinforced_monitoring() -> None:
    version = in_production()
    version.supersede(by_version="v2", reason="rollout completed", actor="system:rollout", timestamp=T0)
    later = T0 + timedelta(days=5)
    version.restore(reason="v2 misbehaves", replacing="v2", actor="user:ops", timestamp=later)
    assert (version.state, version.reinforced_since) == ("production", later)
