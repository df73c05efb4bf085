"""Steps of rollback and backups (rule 4.8): restoring a former production version, keeping every artifact."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from application.monitoring import VersionReport
from tests.harness import Harness
from tests.steps.rollout_steps import attempt, make_candidate, rows


@given(parsers.parse("{new} replaced {old} in production through a rollout"))
def replaced_through_rollout(harness: Harness, new: str, old: str) -> None:
    make_candidate(harness, new)
    harness.app.rollouts.start(new, actor="system:rollout")
    for _ in harness.app.settings.rollout.plan:
        harness.app.rollouts.promote_now(reason="release approved", actor="user:release-manager")
    assert harness.app.ledger.version(new).state == "production"
    assert harness.app.ledger.version(old).state == "superseded"


@given(parsers.parse('the operator "{name}" rolled back to {label} because "{reason}"'))
def rolled_back_to(harness: Harness, name: str, label: str, reason: str) -> None:
    harness.app.rollouts.rollback_to(label, reason=reason, actor=f"user:{name}")


@given(parsers.parse("{label} has served {count:d} rated predictions of which {satisfied:d} are satisfied since"))
def served_since(harness: Harness, label: str, count: int, satisfied: int) -> None:
    harness.serve(label, count, satisfied=satisfied)


@when(parsers.parse('the operator "{name}" rolls back to {label} because "{reason}"'))
def rolls_back_to(harness: Harness, refusal: list[Exception], name: str, label: str, reason: str) -> None:
    attempt(refusal, lambda: harness.app.rollouts.rollback_to(label, reason=reason, actor=f"user:{name}"))


@when(parsers.parse('the operator "{name}" rolls back to {label} without a reason'))
def rolls_back_without_reason(harness: Harness, refusal: list[Exception], name: str, label: str) -> None:
    attempt(refusal, lambda: harness.app.rollouts.rollback_to(label, reason="", actor=f"user:{name}"))


@when("the monitor evaluates the serving versions", target_fixture="reports")
def monitor_evaluates_all(harness: Harness) -> list[VersionReport]:
    return harness.app.monitoring.evaluate()


@then(parsers.parse('the history shows {label} {event} by "{actor}" because "{reason}"'))
def history_shows_decision(harness: Harness, label: str, event: str, actor: str, reason: str) -> None:
    found = [r for r in rows(harness, event, "ModelVersion") if r["version"] == label]
    assert found, f"no {event} for {label}"
    assert (found[-1]["actor"], found[-1]["details"]["reason"]) == (actor, reason), found[-1]
    assert found[-1]["time"] == harness.clock.now().isoformat()


@then(parsers.parse('the history shows {label} {event} by "{actor}" because "{reason}", replacing {other}'))
def history_shows_restore(harness: Harness, label: str, event: str, actor: str, reason: str, other: str) -> None:
    history_shows_decision(harness, label, event, actor, reason)
    found = [r for r in rows(harness, event, "ModelVersion") if r["version"] == label]
    assert found[-1]["details"]["replacing"] == other


@then(parsers.parse("{label} is rolled back"))
def version_rolled_back(harness: Harness, label: str) -> None:
    assert harness.app.ledger.version(label).state == "rolled_back"


@then(parsers.parse("{label} is monitored {how}: satisfaction over its last {window:d} rated predictions is "
                    "{observed:g}"))
def monitored(reports: list[VersionReport], label: str, how: str, window: int, observed: float) -> None:
    (report,) = [r for r in reports if r.version == label]
    assert report.reinforced is (how == "with reinforcement"), report
    (satisfaction,) = [v for v in report.verdicts if v.rule == "satisfaction"]
    assert (satisfaction.window, satisfaction.observed) == (window, observed), satisfaction


@then(parsers.re(r"the artifacts of (?P<labels>.+) all verify"))
def artifacts_verify(harness: Harness, labels: str) -> None:
    expected = set(labels.replace(" and ", ", ").split(", "))
    verified = {row["version"]: row["state"] for row in harness.app.models.verify()}
    assert verified == dict.fromkeys(expected, "ok"), verified
