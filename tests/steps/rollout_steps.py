"""Steps of the progressive rollout (rule 4.7): candidates, phase traffic, ticks, operators, routing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pytest_bdd import given, parsers, then, when

from application.rollouts import Rollouts
from domain.errors import DomainError, InvalidInput
from domain.rollout import Rollout
from domain.rules.routing import bucket
from tests.harness import Harness

MINUTE = timedelta(minutes=1)
OPERATOR_COMMANDS = {"pauses": "pause", "resumes": "resume", "aborts": "abort", "promotes": "promote_now"}


# -- helpers -------------------------------------------------------------------------------------------
def attempt(refusal: list[Exception], command: Callable[[], Any]) -> None:
    """Run a command; a refusal by a rule (or a missing reason) is kept for a `Then ... is refused` step."""
    try:
        command()
    except (DomainError, InvalidInput) as error:
        refusal.append(error)


def latest_rollout(harness: Harness) -> Rollout:
    rollouts = harness.app.ledger.rollouts()
    assert rollouts, "no rollout was ever started"
    return rollouts[-1]


def rows(harness: Harness, event: str, aggregate: str | None = None) -> list[dict[str, Any]]:
    return [
        row for row in harness.app.audit.history()
        if row["event"] == event and (aggregate is None or row["aggregate"] == aggregate)
    ]


def make_candidate(harness: Harness, label: str, kind: str = "validated") -> None:
    """A registered version `label`; validated or rejected against production's version as asked."""
    assert harness.app.ledger.next_version_label() == label, f"{label} would not be the next version"
    candidate = harness.register(production=False)
    parent = harness.app.ledger.production()
    assert parent is not None
    now = harness.clock.now()
    if kind == "validated":
        candidate.validate(parent_id=str(parent.id), gates=[], figures={}, actor="system:campaign", timestamp=now)
    elif kind == "rejected":
        candidate.reject(parent_id=str(parent.id), failed_gates=["validation_accuracy"], gates=[], figures={},
                         actor="system:campaign", timestamp=now)
    else:
        assert kind == "never validated", kind
    harness.app.ledger.save(candidate)


def serve_in_phase(harness: Harness, label: str, count: int, **traffic: Any) -> None:
    """Traffic takes a minute inside the current phase, strictly after it began and before the next decision."""
    harness.clock.advance(MINUTE)
    harness.serve(label, count, **traffic)
    harness.clock.advance(MINUTE)


def serve_healthy_traffic(harness: Harness) -> None:
    """The candidate and the stable version both at 75% satisfied (in batches of 20, so that the stable version's
    last 100 ratings, which its monitoring reads, are 75% too), the candidate slightly slower."""
    rollout = latest_rollout(harness)
    serve_in_phase(harness, rollout.candidate_label, 60, satisfied=45, inference_ms=11.0)
    harness.clock.advance(MINUTE)
    for _ in range(27):
        harness.serve(rollout.stable_label, 20, satisfied=15, inference_ms=10.0)
    harness.clock.advance(MINUTE)


def check_into_phase(harness: Harness, hours: float) -> None:
    harness.clock.set(harness.app.ledger.rollouts()[-1].phase_started_at + timedelta(hours=hours))
    harness.app.tick()


# -- candidates and rollouts -----------------------------------------------------------------------------
@given(parsers.parse("{label} is a {kind} candidate"))
def candidate(harness: Harness, label: str, kind: str) -> None:
    make_candidate(harness, label, kind)


@given(parsers.parse("{candidate} is rolled out at 10% against {stable}"), target_fixture="rollout")
def rolled_out(harness: Harness, candidate: str, stable: str) -> Rollout:
    make_candidate(harness, candidate)
    rollout = harness.app.rollouts.start(candidate, actor="system:rollout")
    assert (rollout.stable_label, rollout.percent) == (stable, 10)
    return rollout


@given(parsers.parse("{candidate} has reached {percent:g}% of the traffic against {stable}"),
       target_fixture="rollout")
def reached(harness: Harness, candidate: str, percent: float, stable: str) -> Rollout:
    rollout = rolled_out(harness, candidate, stable)
    while harness.app.ledger.rollout(str(rollout.id)).percent < percent:
        serve_healthy_traffic(harness)
        check_into_phase(harness, harness.app.ledger.rollout(str(rollout.id)).phase_duration.total_seconds() / 3600)
    rollout = harness.app.ledger.rollout(str(rollout.id))
    assert rollout.percent == percent, rollout.percent
    return rollout


@given(parsers.parse("{candidate} has been rolled out to all of the traffic"), target_fixture="rollout")
def rolled_out_fully(harness: Harness, candidate: str) -> Rollout:
    rollout = reached(harness, candidate, 100, harness.app.ledger.production().label)
    assert rollout.state == "completed"
    return rollout


# -- traffic in the current phase ---------------------------------------------------------------------------
@given(parsers.parse("in this phase {label} has {rated:d} rated predictions of which {satisfied:d} are satisfied"))
def rated_in_phase(harness: Harness, label: str, rated: int, satisfied: int) -> None:
    serve_in_phase(harness, label, rated, satisfied=satisfied)


@given(parsers.parse('in this phase {label} has {rated:d} rated "{image_type}" predictions of which {satisfied:d} are '
                     'satisfied'))
def rated_of_type_in_phase(harness: Harness, label: str, rated: int, image_type: str, satisfied: int) -> None:
    serve_in_phase(harness, label, rated, satisfied=satisfied, image_type=image_type)


@given(parsers.parse("in this phase {label} has {count:d} predictions of which {errors:d} failed"))
def errors_in_phase(harness: Harness, label: str, count: int, errors: int) -> None:
    serve_in_phase(harness, label, count, errors=errors)


@given(parsers.parse("in this phase {label} has {count:d} predictions with a mean latency of {ms:g} ms"))
def latency_in_phase(harness: Harness, label: str, count: int, ms: float) -> None:
    serve_in_phase(harness, label, count, inference_ms=ms)


@given("in this phase both versions serve healthy traffic")
def healthy_traffic(harness: Harness) -> None:
    serve_healthy_traffic(harness)


@given("in this phase too little traffic has been served")
def too_little_traffic(harness: Harness) -> None:
    rollout = latest_rollout(harness)
    serve_in_phase(harness, rollout.candidate_label, 20, satisfied=18)
    serve_in_phase(harness, rollout.stable_label, 180)


@given("the phase was extended for lack of evidence")
def phase_extended(harness: Harness) -> None:
    too_little_traffic(harness)
    check_into_phase(harness, 24)
    assert latest_rollout(harness).extended


@given("the rollout paused for lack of evidence")
def paused_for_lack_of_evidence(harness: Harness) -> None:
    phase_extended(harness)
    check_into_phase(harness, 48)
    assert latest_rollout(harness).state == "paused"


# -- time and operators --------------------------------------------------------------------------------
@when("the rollout is checked")
def rollout_checked(harness: Harness) -> None:
    harness.app.tick()


@when(parsers.parse("the rollout is checked {hours:g} hours into the phase"))
def rollout_checked_into_phase(harness: Harness, hours: float) -> None:
    check_into_phase(harness, hours)


class _StaleOnce:
    """A second process's view of the ledger: its first read of the rollout happened before the other's save."""

    def __init__(self, ledger: Any, stale: Rollout) -> None:
        self._ledger, self._stale = ledger, stale

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    def rollout(self, ref: str) -> Rollout:
        stale, self._stale = self._stale, None
        return stale if stale is not None else self._ledger.rollout(ref)


@when(parsers.parse("two processes check the rollout {hours:g} hours into the phase at the same moment"))
def two_processes_check(harness: Harness, hours: float) -> None:
    app = harness.app
    harness.clock.set(latest_rollout(harness).phase_started_at + timedelta(hours=hours))
    seen_by_second = app.ledger.rollout(str(latest_rollout(harness).id))
    app.rollouts.step()
    second = Rollouts(ledger=_StaleOnce(app.ledger, seen_by_second), feedback=harness.feedback, clock=harness.clock,
                      policy=app.settings.rollout)
    second.step()


@when(parsers.parse("the rollout is checked {hours:g} hours after it started"))
def rollout_checked_after_start(harness: Harness, hours: float) -> None:
    harness.clock.set(latest_rollout(harness).created_on + timedelta(hours=hours))
    harness.app.tick()


@when(parsers.parse("the rollout of {label} starts"))
def rollout_starts(harness: Harness, refusal: list[Exception], label: str) -> None:
    attempt(refusal, lambda: harness.app.rollouts.start(label, actor="system:rollout"))


@given(parsers.parse('the operator "{name}" {command} the rollout because "{reason}"'))
@given(parsers.parse('the operator "{name}" {command} the rollout now because "{reason}"'))
def operator_did(harness: Harness, name: str, command: str, reason: str) -> None:
    past = {"paused": "pauses", "resumed": "resumes", "aborted": "aborts", "promoted": "promotes"}[command]
    getattr(harness.app.rollouts, OPERATOR_COMMANDS[past])(reason=reason, actor=f"user:{name}")


@when(parsers.parse('the operator "{name}" {command} the rollout because "{reason}"'))
@when(parsers.parse('the operator "{name}" {command} the rollout now because "{reason}"'))
def operator_does(harness: Harness, refusal: list[Exception], name: str, command: str, reason: str) -> None:
    action = getattr(harness.app.rollouts, OPERATOR_COMMANDS[command])
    attempt(refusal, lambda: action(reason=reason, actor=f"user:{name}"))


@when(parsers.parse('the operator "{name}" {command} the rollout without a reason'))
def operator_without_reason(harness: Harness, refusal: list[Exception], name: str, command: str) -> None:
    action = getattr(harness.app.rollouts, OPERATOR_COMMANDS[command])
    attempt(refusal, lambda: action(reason="  ", actor=f"user:{name}"))


# -- routing ---------------------------------------------------------------------------------------------
@when(parsers.parse('user "{user_ref}" sends a request every hour of the phase'), target_fixture="served")
def user_every_hour(harness: Harness, user_ref: str) -> list[str]:
    served = []
    for _ in range(24):
        version = harness.app.router.table().version_for(user_ref, harness.next_id())
        assert version is not None
        served.append(version.label)
        harness.clock.advance(timedelta(hours=1) - MINUTE)
    return served


@when(parsers.parse("{count:d} different users send a request"), target_fixture="served")
def many_users(harness: Harness, count: int) -> list[str]:
    table = harness.app.router.table()
    return [table.version_for(f"user-{n}", harness.next_id()).label for n in range(count)]


@when(parsers.re(r"a (?P<caller>user|caller without a user_ref) whose bucket is (?P<value>\d+) sends a request"),
      target_fixture="served")
def caller_with_bucket(harness: Harness, caller: str, value: str) -> list[str]:
    rollout_id = str(latest_rollout(harness).id)
    key = next(k for k in (f"key-{n}" for n in range(10**6)) if bucket(rollout_id, k) == int(value))
    if caller == "user":
        version = harness.app.router.table().version_for(key, harness.next_id())
    else:
        version = harness.app.router.table().version_for(None, key)
    return [version.label]


@then(parsers.parse('every request of user "{user_ref}" is served by the same version'))
def same_version(served: list[str], user_ref: str) -> None:
    assert len(served) == 24 and len(set(served)) == 1, served


@then(parsers.parse("between {low:d}% and {high:d}% of them are served by {label}"))
def share_served(served: list[str], low: int, high: int, label: str) -> None:
    share = 100 * served.count(label) / len(served)
    assert low <= share <= high, share


@then(parsers.parse("the request is served by {label}"))
def request_served_by(served: list[str], label: str) -> None:
    assert served == [label]


@then(parsers.parse("every request is served by {label}"))
def everyone_served_by(harness: Harness, label: str) -> None:
    table = harness.app.router.table()
    labels = {table.version_for(f"user-{n}", harness.next_id()).label for n in range(500)}
    assert labels == {label}, labels


# -- what the application shows ---------------------------------------------------------------------------
@then(parsers.parse("the rollout status shows {candidate} at {percent:g}% against {stable} in phase {phase:d}, "
                    "{state}"))
def status_shows(harness: Harness, candidate: str, percent: float, stable: str, phase: int, state: str) -> None:
    status = harness.app.rollouts.status()
    assert status is not None, "no rollout is active"
    shown = (status["candidate"], status["percent"], status["stable"], status["phase"], status["state"])
    assert shown == (candidate, percent, stable, phase, state), status


@then("no rollout is active")
def no_rollout_active(harness: Harness) -> None:
    assert harness.app.rollouts.status() is None
    assert harness.app.ledger.active_rollout() is None


@then("the history shows the rollout Started with the plan 10% for 24 hours, then 50% for 48 hours")
def started_with_plan(harness: Harness) -> None:
    (started,) = rows(harness, "Started", "Rollout")
    assert started["details"]["plan"] == [{"percent": 10, "hours": 24}, {"percent": 50, "hours": 48}]
    assert (started["details"]["stable_label"], started["details"]["candidate_label"]) == ("v1", "v2")


@then(parsers.parse('the history shows traffic shifted from {low:g}% to {high:g}% by "{actor}"'))
def traffic_shifted(harness: Harness, low: float, high: float, actor: str) -> None:
    shifts = [(r["details"]["from_percent"], r["details"]["to_percent"], r["actor"])
              for r in rows(harness, "TrafficShifted")]
    assert (low, high, actor) in shifts, shifts


@then("that shift records the phase's satisfaction, error rate and latency")
def shift_records_evidence(harness: Harness) -> None:
    evidence = rows(harness, "TrafficShifted")[-1]["details"]["evidence"]
    assert {name: check["state"] for name, check in evidence.items()} == {
        "satisfaction": "ok", "error_rate": "ok", "latency": "ok", "satisfaction_floor": "ok", "error_rate_floor": "ok"}
    satisfaction = evidence["satisfaction"]
    assert (satisfaction["samples"], satisfaction["observed"], satisfaction["stable_samples"]) == (60, 0.75, 540)
    assert satisfaction["stable"] == 0.75
    assert satisfaction["low"] < satisfaction["difference"] < satisfaction["high"] and satisfaction["alpha"] > 0


@then(parsers.parse('that shift records the reason "{reason}"'))
def shift_records_reason(harness: Harness, reason: str) -> None:
    assert rows(harness, "TrafficShifted")[-1]["details"]["reason"] == reason


@then(parsers.parse('the history shows the rollout {event} by "{actor}"'))
def rollout_event_by(harness: Harness, event: str, actor: str) -> None:
    assert actor in [row["actor"] for row in rows(harness, event, "Rollout")]


@then(parsers.parse("the history shows {count:d} traffic shift from {low:g}% to {high:g}%"))
def traffic_shifted_count(harness: Harness, count: int, low: float, high: float) -> None:
    shifts = [(r["details"]["from_percent"], r["details"]["to_percent"]) for r in rows(harness, "TrafficShifted")]
    assert shifts.count((low, high)) == count, shifts


@then(parsers.parse("the rollout continues at {percent:g}%"))
def rollout_continues(harness: Harness, percent: float) -> None:
    rollout = latest_rollout(harness)
    assert (rollout.state, rollout.percent) == ("active", percent)
    assert not rows(harness, "RolledBack", "Rollout")


@then(parsers.re(r"the rollout is rolled back because of (?P<check>[\w/]+)$"))
def rolled_back_on_check(harness: Harness, check: str) -> None:
    rollout = latest_rollout(harness)
    assert (rollout.state, rollout.percent) == ("rolled_back", 0)
    (rolled_back,) = rows(harness, "RolledBack", "Rollout")
    assert rolled_back["details"]["evidence"][check]["state"] == "failed", rolled_back["details"]
    assert check in rolled_back["details"]["reason"]
    assert rows(harness, "TrafficShifted")[-1]["details"]["to_percent"] == 0


@then(parsers.parse('the rollout is rolled back because of "{reason}"'))
def rolled_back_with_reason(harness: Harness, reason: str) -> None:
    rollout = latest_rollout(harness)
    assert (rollout.state, rollout.percent) == ("rolled_back", 0)
    (rolled_back,) = rows(harness, "RolledBack", "Rollout")
    assert rolled_back["details"]["reason"] == reason


@then(parsers.parse('{label} is rolled back with the phase\'s evidence by "{actor}"'))
def version_rolled_back(harness: Harness, label: str, actor: str) -> None:
    assert harness.app.ledger.version(label).state == "rolled_back"
    (row,) = [r for r in rows(harness, "RolledBack", "ModelVersion") if r["version"] == label]
    assert row["actor"] == actor
    assert row["details"]["rollout_id"] == str(latest_rollout(harness).id)
    satisfaction = row["details"]["evidence"]["satisfaction"]
    assert (satisfaction["state"], satisfaction["observed"], satisfaction["samples"]) == ("failed", 0.333333, 60)
    assert (satisfaction["stable"], satisfaction["stable_samples"], satisfaction["rule"]) == (0.8, 600, "comparison")
    assert satisfaction["high"] < 0 and round(satisfaction["alpha"], 6) == 0.026


@then("the rollout's end records its health at that moment")
def rollout_end_records_health(harness: Harness) -> None:
    (ended,) = rows(harness, "RolledBack", "Rollout")
    candidate = [r for r in rows(harness, "RolledBack", "ModelVersion") if r["version"] == ended["version"]]
    for row in (ended, *candidate):
        assert set(row["details"]["evidence"]) == {"satisfaction", "error_rate", "latency", "satisfaction_floor",
                                                   "error_rate_floor"}, row["details"]
        assert all("state" in check and "samples" in check for check in row["details"]["evidence"].values())


@then(parsers.parse('the rollout is paused for "{reason}"'))
def rollout_paused(harness: Harness, reason: str) -> None:
    assert latest_rollout(harness).state == "paused"
    assert rows(harness, "Paused", "Rollout")[-1]["details"]["reason"] == reason


@then("the rollout is completed")
def rollout_completed(harness: Harness) -> None:
    assert latest_rollout(harness).state == "completed"
    assert len(rows(harness, "Completed", "Rollout")) == 1


@then("the phase is extended once")
def extended_once(harness: Harness) -> None:
    extensions = rows(harness, "PhaseExtended")
    assert len(extensions) == 1, extensions
    assert extensions[0]["actor"] == "system:rollout" and extensions[0]["details"]["phase"] == 1


@then("the phase started when the rollout was resumed")
def phase_restarted(harness: Harness) -> None:
    (resumed,) = rows(harness, "Resumed", "Rollout")
    assert harness.app.rollouts.status()["phase_started_at"] == resumed["time"]


@then(parsers.parse("{label} is the production version"))
def production_version(harness: Harness, label: str) -> None:
    production = harness.app.ledger.production()
    assert production is not None and production.label == label
    assert [v.label for v in harness.app.ledger.versions() if v.state == "production"] == [label]


@then(parsers.parse("{label} is a canary"))
def canary_version(harness: Harness, label: str) -> None:
    assert harness.app.ledger.version(label).state == "canary"


@then(parsers.parse("{label} is superseded"))
def superseded_version(harness: Harness, label: str) -> None:
    assert harness.app.ledger.version(label).state == "superseded"
    (row,) = [r for r in rows(harness, "Superseded") if r["version"] == label]
    assert row["actor"] == "system:rollout"
