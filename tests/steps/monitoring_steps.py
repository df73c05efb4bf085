"""Steps of the triggers (4.1): a version's traffic and feedback, the monitor's verdicts, the breaches it records."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from application.monitoring import VersionReport
from application.records import StoredFeedback
from domain.rules.verdicts import TriggerVerdict
from tests.harness import Harness

RULES = {
    "satisfaction": "satisfaction", "latency": "latency", "error rate": "error_rate",
    "negative comments": "negative_comments", "image type": "image_type",
}
STATES = {"breached": "breached", "ok": "ok", "not evaluated": "not_evaluated"}
RULE = "(?P<rule>" + "|".join(RULES) + ")"
LABEL = r"(?P<label>v\d+)"
NUMBER = r"\d+(?:\.\d+)?"
# ", served 2 days ago", ", rated 1 hour from now", ", served 10 days ago and rated 2 days ago"
WHEN = r"(?:, served (?P<served>[^,]+?))?(?:(?:,| and) rated (?P<rated>[^,]+?))?"
_MOMENT = re.compile(r"(?P<amount>\d+) (?P<unit>minute|hour|day)s? (?P<direction>ago|from now)")


# -- time ---------------------------------------------------------------------------------------------------------
def moment(harness: Harness, phrase: str | None) -> datetime:
    """'2 days ago' or '1 hour from now', as of the clock; None is now."""
    now = harness.clock.now()
    if phrase is None:
        return now
    parsed = _MOMENT.fullmatch(phrase.strip())
    assert parsed, f"not a moment: {phrase!r}"
    delta = timedelta(**{parsed["unit"] + "s": int(parsed["amount"])})
    return now - delta if parsed["direction"] == "ago" else now + delta


def serve(harness: Harness, label: str, count: int, served: str | None, rated: str | None,
          **options: Any) -> list[str]:
    at = moment(harness, served)
    delay = moment(harness, rated) - at if rated else timedelta(0)
    return harness.serve(label, count, at=at, feedback_delay=delay, **options)


# -- traffic ------------------------------------------------------------------------------------------------------
@given(parsers.re(
    LABEL + r' has (?P<count>\d+) rated (?:"(?P<segment>[^"]+)" )?predictions of which (?P<satisfied>\d+) '
    r"(?:are|is) satisfied" + WHEN
))
def rated_predictions(harness: Harness, label: str, count: str, segment: str | None, satisfied: str,
                      served: str | None, rated: str | None) -> None:
    serve(harness, label, int(count), served, rated, satisfied=int(satisfied), image_type=segment or "unknown")


@given(parsers.re(LABEL + r" has served (?P<count>\d+) predictions in (?P<ms>" + NUMBER + ") ms" + WHEN))
def timed_predictions(harness: Harness, label: str, count: str, ms: str, served: str | None,
                      rated: str | None) -> None:
    serve(harness, label, int(count), served, rated, inference_ms=float(ms))


@given(parsers.re(LABEL + r" has served (?P<count>\d+) predictions of which (?P<failed>\d+) failed" + WHEN))
def failing_predictions(harness: Harness, label: str, count: str, failed: str, served: str | None,
                        rated: str | None) -> None:
    serve(harness, label, int(count), served, rated, errors=int(failed))


@given(
    parsers.re(LABEL + r' has (?P<count>\d+) negative feedbacks commenting "(?P<comment>[^"]*)"' + WHEN),
    target_fixture="answered",
)
def negative_feedbacks(harness: Harness, label: str, count: str, comment: str, served: str | None,
                       rated: str | None) -> list[str]:
    return serve(harness, label, int(count), served, rated, satisfied=0, comment=comment)


@given(parsers.re(LABEL + r' has (?P<count>\d+) positive feedbacks commenting "(?P<comment>[^"]*)"'))
def positive_feedbacks(harness: Harness, label: str, count: str, comment: str) -> None:
    ids = harness.serve(label, int(count))
    now = harness.clock.now()
    harness.feedback.add([], [StoredFeedback(pid, 1, now, comment) for pid in ids])


@given("those users later say they are satisfied")
def users_change_their_minds(harness: Harness, answered: list[str]) -> None:
    now = harness.clock.now()
    harness.feedback.add([], [StoredFeedback(pid, 1, now) for pid in answered])


# -- versions -----------------------------------------------------------------------------------------------------
@given(parsers.re(LABEL + " is in production without a latency baseline"))
def production_without_baseline(harness: Harness, label: str) -> None:
    assert harness.app.ledger.next_version_label() == label
    harness.register(production=True, baseline_ms=None)


def validated_candidate(harness: Harness, label: str) -> None:
    """A candidate that passed its gates (the campaign that trained it is another feature's concern)."""
    assert harness.app.ledger.next_version_label() == label, "register the versions in order"
    parent = harness.app.ledger.production()
    assert parent is not None, "a candidate needs a production version to be rolled out against"
    candidate = harness.register(production=False)
    candidate.validate(parent_id=str(parent.id), gates=[], figures={}, actor="system:campaign",
                       timestamp=harness.clock.now())
    harness.app.ledger.save(candidate)


@given(parsers.re(LABEL + " is being rolled out as a canary"))
def canary(harness: Harness, label: str) -> None:
    validated_candidate(harness, label)
    harness.app.rollouts.start(label, actor="user:ops")


@given(parsers.re(LABEL + " was promoted to production through a rollout"))
def promoted_through_a_rollout(harness: Harness, label: str) -> None:
    canary(harness, label)
    for _ in range(len(harness.app.settings.rollout.plan)):
        harness.app.rollouts.promote_now(reason="healthy", actor="user:ops")
    assert harness.app.ledger.version(label).state == "production"


@given(parsers.re(LABEL + " was restored to production"))
def restored(harness: Harness, label: str) -> None:
    harness.app.rollouts.rollback_to(label, reason="the new version misbehaves", actor="user:ops")


# -- the monitor --------------------------------------------------------------------------------------------------
def report_of(reports: list[VersionReport], label: str) -> VersionReport:
    found = [r for r in reports if r.version == label]
    assert found, f"the monitor did not evaluate {label}: it evaluated {[r.version for r in reports]}"
    return found[0]


@given(parsers.re("the monitor has evaluated " + LABEL), target_fixture="report")
def monitor_has_evaluated(harness: Harness, label: str) -> VersionReport:
    return report_of(harness.app.monitoring.evaluate(), label)


@when(parsers.re("the monitor evaluates " + LABEL + "(?: again)?"), target_fixture="report")
def monitor_evaluates(harness: Harness, label: str) -> VersionReport:
    return report_of(harness.app.monitoring.evaluate(), label)


def verdict_of(report: VersionReport, rule: str, segment: str | None) -> TriggerVerdict:
    found = [v for v in report.verdicts if v.rule == RULES[rule] and v.segment == segment]
    assert len(found) == 1, f"{rule} {segment or ''}: {report.verdicts}"
    return found[0]


@then(parsers.re(
    "the " + RULE + r' rule(?: for "(?P<segment>[^"]+)")? is (?P<state>breached|ok|not evaluated)'
    r"(?: at (?P<observed>" + NUMBER + "))?"
))
def rule_state(report: VersionReport, rule: str, segment: str | None, state: str, observed: str | None) -> None:
    verdict = verdict_of(report, rule, segment)
    assert verdict.state == STATES[state], verdict
    if observed is not None:
        assert verdict.observed == pytest.approx(float(observed), abs=5e-7), verdict
    elif state == "not evaluated":
        assert verdict.observed is None, verdict


@then(parsers.re(LABEL + " is under (?P<kind>reinforced|normal) monitoring"))
def monitoring_kind(report: VersionReport, label: str, kind: str) -> None:
    assert report.version == label
    assert report.reinforced is (kind == "reinforced")


@then("the monitor reports no image type segment")
def no_segment(report: VersionReport) -> None:
    assert [v for v in report.verdicts if v.rule == "image_type"] == []


# -- the history --------------------------------------------------------------------------------------------------
def events(harness: Harness, event: str, rule: str | None = None) -> list[dict[str, Any]]:
    rows = [row for row in harness.app.audit.history() if row["event"] == event]
    return [row for row in rows if rule is None or row["details"].get("rule") == RULES[rule]]


def recorded(harness: Harness, event: str, rule: str, label: str | None, segment: str | None,
             observed: str) -> dict[str, Any]:
    rows = [
        row for row in events(harness, event, rule)
        if (label is None or row["version"] == label) and row["details"]["segment"] == segment
    ]
    matching = [row for row in rows if row["details"]["observed"] == pytest.approx(float(observed), abs=5e-7)]
    assert matching, f"no {event} {rule} {segment or ''} at {observed}: {[r['details'] for r in rows]}"
    assert matching[-1]["actor"] == "system:monitor"
    return matching[-1]


@then(parsers.re(
    "an? " + RULE + " breach is recorded(?: for " + LABEL + r')?(?: on "(?P<segment>[^"]+)")? '
    "with observed (?P<observed>" + NUMBER + ")"
))
def breach_recorded(harness: Harness, rule: str, label: str | None, segment: str | None, observed: str) -> None:
    recorded(harness, "ThresholdBreached", rule, label, segment, observed)


@then(parsers.re("an? " + RULE + " recovery is recorded(?: for " + LABEL + ")? with observed (?P<observed>"
                 + NUMBER + ")"))
def recovery_recorded(harness: Harness, rule: str, label: str | None, observed: str) -> None:
    recorded(harness, "ThresholdRecovered", rule, label, None, observed)


@then(parsers.re("no " + RULE + " (?P<what>breach|recovery) is recorded"))
def nothing_recorded_for(harness: Harness, rule: str, what: str) -> None:
    event = "ThresholdBreached" if what == "breach" else "ThresholdRecovered"
    assert events(harness, event, rule) == []


@then("no breach is recorded")
def no_breach(harness: Harness) -> None:
    assert events(harness, "ThresholdBreached") == []


@then(parsers.re("the history shows (?P<count>\\d+) " + RULE + " breach(?:es)?"))
def breach_count(harness: Harness, count: str, rule: str) -> None:
    assert len(events(harness, "ThresholdBreached", rule)) == int(count)


@then(parsers.re(r"the history shows (?P<count>\d+) (?P<event>[A-Z]\w+) events?"))
def event_count(harness: Harness, count: str, event: str) -> None:
    assert len(events(harness, event)) == int(count)


@then(parsers.re(
    "the " + RULE + " breach records a threshold of (?P<threshold>" + NUMBER + ") over a window of "
    r"(?P<size>\d+) predictions"
))
def breach_evidence(harness: Harness, rule: str, threshold: str, size: str) -> None:
    (row,) = events(harness, "ThresholdBreached", rule)
    details = row["details"]
    assert details["threshold"] == pytest.approx(float(threshold))
    assert details["window_size"] == int(size)
    assert details["window_start"] is not None and details["window_end"] is not None
    assert details["window_start"] <= details["window_end"] <= harness.clock.now().isoformat()


@then(parsers.re(r"the negative comments breach counts (?P<counts>.+)"))
def comments_per_term(harness: Harness, counts: str) -> None:
    expected = {term: int(n) for n, term in re.findall(r'(\d+)(?: comments)? with "([^"]+)"', counts)}
    assert expected, counts
    (row,) = events(harness, "ThresholdBreached", "negative comments")
    assert row["details"]["evidence"]["per_term"] == expected


@then(parsers.re("the latency baseline of " + LABEL + r" is (?P<baseline>not measured|[\d.]+ ms)"))
def latency_baseline(harness: Harness, label: str, baseline: str) -> None:
    rows = [row for row in events(harness, "BaselineMeasured") if row["version"] == label]
    if baseline == "not measured":
        assert rows == []
        return
    (row,) = rows
    assert row["details"]["baseline_ms"] == pytest.approx(float(baseline.removesuffix(" ms")))
    assert row["details"]["sample_size"] == harness.app.settings.triggers.baseline_sample
    assert row["actor"] == "system:monitor"

