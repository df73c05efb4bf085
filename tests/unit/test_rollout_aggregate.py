"""The Rollout aggregate's guards: which command each state allows, and what its events record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import IllegalTransition
from domain.rollout import Rollout

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = [{"percent": 10.0, "hours": 24.0}, {"percent": 50.0, "hours": 48.0}]
SYSTEM = "system:rollout"


def started(plan: list[dict[str, float]] | None = None) -> Rollout:
    rollout = Rollout(
        number=1, stable_id="s", stable_label="v1", candidate_id="c", candidate_label="v2", campaign_id=None,
        plan=PLAN if plan is None else plan, actor=SYSTEM, timestamp=T0,
    )
    rollout.advance(reason="rollout started", evidence={}, actor=SYSTEM, timestamp=T0)
    return rollout


def advanced(rollout: Rollout, hours: float) -> Rollout:
    rollout.advance(reason="healthy", evidence={}, actor=SYSTEM, timestamp=T0 + timedelta(hours=hours))
    return rollout


def completed() -> Rollout:
    rollout = advanced(advanced(started(), 24), 72)
    rollout.complete(actor=SYSTEM, timestamp=T0 + timedelta(hours=72))
    return rollout


def shifts(rollout: Rollout) -> list[tuple[float, float, int]]:
    return [(e.from_percent, e.to_percent, e.phase) for e in rollout.collect_events()
            if isinstance(e, Rollout.TrafficShifted)]


def test_a_rollout_goes_10_then_50_then_100_percent_phase_by_phase() -> None:
    rollout = advanced(advanced(started(), 24), 72)
    assert shifts(rollout) == [(0, 10, 1), (10, 50, 2), (50, 100, 3)]
    assert (rollout.percent, rollout.phase, rollout.phase_started_at) == (100, 3, T0 + timedelta(hours=72))


def test_each_phase_lasts_as_its_plan_says() -> None:
    rollout = started()
    assert rollout.phase_duration == timedelta(hours=24)
    assert advanced(rollout, 24).phase_duration == timedelta(hours=48)


def test_the_started_event_records_the_stable_version_the_candidate_and_the_plan() -> None:
    (created, _) = started().collect_events()
    assert isinstance(created, Rollout.Started)
    assert (created.stable_label, created.candidate_label, created.plan, created.actor, created.timestamp) == (
        "v1", "v2", PLAN, SYSTEM, T0)


def test_a_rollout_needs_a_plan() -> None:
    with pytest.raises(IllegalTransition, match="at least one phase"):
        started(plan=[])


def test_a_rollout_completes_only_at_100_percent() -> None:
    rollout = advanced(started(), 24)
    with pytest.raises(IllegalTransition, match="at 50%, not 100%"):
        rollout.complete(actor=SYSTEM, timestamp=T0)


def test_shifting_traffic_on_a_completed_rollout_is_refused() -> None:
    rollout = completed()
    with pytest.raises(IllegalTransition, match="cannot shift traffic on rollout 1: it is completed"):
        advanced(rollout, 100)


@pytest.mark.parametrize("command", ["pause", "resume", "roll_back", "extend_phase", "complete"])
def test_a_completed_rollout_refuses_every_command(command: str) -> None:
    rollout = completed()
    arguments = {"pause": {"reason": "r"}, "resume": {"reason": "r"}, "roll_back": {"reason": "r", "evidence": {}},
                 "extend_phase": {"evidence": {}}, "complete": {}}[command]
    with pytest.raises(IllegalTransition, match="it is completed"):
        getattr(rollout, command)(actor=SYSTEM, timestamp=T0, **arguments)


def test_a_rolled_back_rollout_cannot_shift_traffic_or_resume() -> None:
    rollout = started()
    rollout.roll_back(reason="bad", evidence={}, actor=SYSTEM, timestamp=T0)
    with pytest.raises(IllegalTransition, match="it is rolled_back"):
        advanced(rollout, 1)
    with pytest.raises(IllegalTransition, match="it is rolled_back"):
        rollout.resume(reason="again", actor="user:alice", timestamp=T0)


def test_rolling_back_shifts_the_traffic_to_0_percent_then_records_the_rollback_with_its_evidence() -> None:
    rollout = advanced(started(), 24)
    evidence = {"satisfaction": {"state": "failed", "observed": 0.5}}
    rollout.roll_back(reason="phase health failed: satisfaction", evidence=evidence, actor=SYSTEM, timestamp=T0)
    *_, shift, rolled_back = rollout.collect_events()
    assert isinstance(shift, Rollout.TrafficShifted) and (shift.from_percent, shift.to_percent) == (50, 0)
    assert isinstance(rolled_back, Rollout.RolledBack) and rolled_back.evidence == evidence
    assert (rollout.state, rollout.percent, rollout.is_active) == ("rolled_back", 0, False)


def test_a_paused_rollout_can_be_rolled_back() -> None:
    rollout = started()
    rollout.pause(reason="look", actor="user:alice", timestamp=T0)
    rollout.roll_back(reason="abort", evidence={}, actor="user:alice", timestamp=T0)
    assert rollout.state == "rolled_back"


def test_a_paused_rollout_cannot_shift_traffic_or_be_paused_again() -> None:
    rollout = started()
    rollout.pause(reason="look", actor="user:alice", timestamp=T0)
    with pytest.raises(IllegalTransition, match="it is paused"):
        advanced(rollout, 24)
    with pytest.raises(IllegalTransition, match="it is paused"):
        rollout.pause(reason="again", actor="user:alice", timestamp=T0)


def test_only_a_paused_rollout_can_be_resumed() -> None:
    with pytest.raises(IllegalTransition, match="cannot resume rollout 1: it is active"):
        started().resume(reason="go", actor="user:alice", timestamp=T0)


def test_resuming_restarts_the_phase_clock_and_allows_a_new_extension() -> None:
    rollout = started()
    rollout.extend_phase(evidence={}, actor=SYSTEM, timestamp=T0 + timedelta(hours=24))
    rollout.pause(reason="insufficient_evidence", actor=SYSTEM, timestamp=T0 + timedelta(hours=48))
    rollout.resume(reason="more traffic now", actor="user:alice", timestamp=T0 + timedelta(hours=50))
    assert (rollout.state, rollout.phase_started_at, rollout.extended) == ("active", T0 + timedelta(hours=50), False)
    rollout.extend_phase(evidence={}, actor=SYSTEM, timestamp=T0 + timedelta(hours=74))
    assert rollout.extended


def test_a_phase_is_extended_only_once() -> None:
    rollout = started()
    rollout.extend_phase(evidence={}, actor=SYSTEM, timestamp=T0 + timedelta(hours=24))
    with pytest.raises(IllegalTransition, match="already extended"):
        rollout.extend_phase(evidence={}, actor=SYSTEM, timestamp=T0 + timedelta(hours=25))


def test_the_next_phase_may_be_extended_again() -> None:
    rollout = started()
    rollout.extend_phase(evidence={}, actor=SYSTEM, timestamp=T0 + timedelta(hours=24))
    advanced(rollout, 30)
    rollout.extend_phase(evidence={}, actor=SYSTEM, timestamp=T0 + timedelta(hours=78))
    extensions = [e.phase for e in rollout.collect_events() if isinstance(e, Rollout.PhaseExtended)]
    assert extensions == [1, 2]


def test_every_event_carries_the_time_and_the_actor_it_was_given() -> None:
    rollout = started()
    rollout.pause(reason="look", actor="user:alice", timestamp=T0 + timedelta(hours=3))
    events = rollout.collect_events()
    assert [(type(e).__name__, e.actor, e.timestamp) for e in events] == [
        ("Started", SYSTEM, T0), ("TrafficShifted", SYSTEM, T0), ("Paused", "user:alice", T0 + timedelta(hours=3)),
    ]


def test_rollout_ids_follow_their_number_so_two_processes_cannot_start_the_same_rollout_twice() -> None:
    assert Rollout.create_id(number=1) == started().id != Rollout.create_id(number=2)
