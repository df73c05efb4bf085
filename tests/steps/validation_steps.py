"""Steps for validation (SPEC 4.6): the candidate measured side by side with its parent, the three gates, and the
items each gate needs (the lineage's original datasets, registered or attached later)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_bdd import given, parsers, then

from application.validation import describe_gate
from domain.retrain_campaign import RetrainCampaign
from domain.rules.paired_comparison import compare_paired
from domain.rules.validation_gates import NOT_SIGNIFICANT, ModelFigures
from tests.fakes import FakeEvaluator
from tests.harness import Harness
from tests.steps.curation_steps import campaign_events, current

FIGURES = ("validation_accuracy", "test_accuracy", "latency_ms")


@given(parsers.parse(
    "side by side, {label} measures a validation accuracy of {validation:g}, a test accuracy of {test:g} "
    "and a latency of {latency:g} ms"
))
def measured_side_by_side(harness: Harness, label: str, validation: float, test: float, latency: float) -> None:
    harness.evaluator.figures[label] = ModelFigures(validation, test, latency)


@given(parsers.parse(
    "on {items:d} {segment} validation items, {parent} measures an accuracy of {before:g} and {candidate} of {after:g}"
))
def measured_per_segment(harness: Harness, items: int, segment: str, parent: str, before: float, candidate: str,
                         after: float) -> None:
    harness.evaluator.per_image_type[segment] = {parent: before, candidate: after, "items": items}


@given("validation requires significance", target_fixture="harness")
def significance_required(make_harness: Callable[..., Harness]) -> Harness:
    """A fresh application whose settings say validation.require_significance = true."""
    return make_harness(validation={"require_significance": True})


@given(parsers.parse("on the {items:d} {kind} items, {parent} alone is right on {only_parent:d} and {candidate} alone "
                     "on {only_candidate:d}"))
def discordant_items(harness: Harness, items: int, kind: str, parent: str, only_parent: int, candidate: str,
                     only_candidate: int) -> None:
    """Which items only one of the two models gets right, on the set the evaluator measures ("validation", "test")."""
    original = harness.evaluator.original_items
    assert items == (original[kind] + harness.evaluator.curated_validation_items * (kind == "validation")), items
    harness.evaluator.discordant[kind] = (only_parent, only_candidate)


@given(parsers.parse("{label} is in production without original datasets"))
def production_without_originals(harness: Harness, label: str) -> None:
    """A team's model registered alone: no original training, validation or test set."""
    assert harness.register(production=True, originals=False).label == label


@given(parsers.parse("{label} is in production with an original test set of {test:d} items"))
def production_with_test_set(harness: Harness, label: str, test: int) -> None:
    harness.evaluator.original_items["test"] = test
    assert harness.register(production=True).label == label


@given(parsers.parse("{label} is in production with an original validation set of {original:d} items"))
def production_with_validation_set(harness: Harness, label: str, original: int) -> None:
    harness.evaluator.original_items["validation"] = original
    assert harness.register(production=True).label == label


@given(parsers.parse("the curated validation split holds {items:d} items"))
def curated_validation_split(harness: Harness, items: int) -> None:
    harness.evaluator.curated_validation_items = items


@given(parsers.parse(
    "an original dataset of {train:d} training, {validation:d} validation and {test:d} test items has been attached "
    "to {label}"
))
def originals_attached(harness: Harness, label: str, train: int, validation: int, test: int) -> None:
    """What `retrain model datasets` records: the sets stored as one original dataset, attached to the version."""
    sizes = {"train": train, "validation": validation, "test": test}
    if isinstance(harness.evaluator, FakeEvaluator):
        harness.evaluator.original_items.update(validation=validation, test=test)
    version = harness.app.ledger.version(label)
    version.attach_datasets(dataset_id=harness.original_dataset(sizes), sizes=sizes,
                            sources={name: f"/data/{name}" for name in sizes}, actor="user:test",
                            timestamp=harness.clock.now())
    harness.app.ledger.save(version)


def judgement(harness: Harness, label: str, event: str) -> dict[str, Any]:
    """The candidate's CandidateValidated or CandidateRejected, as the history shows it."""
    rows = [row for row in harness.app.audit.history()
            if row["aggregate"] == "ModelVersion" and row["version"] == label and row["event"] == event]
    assert len(rows) == 1, (f"{label}: "
                            f"{[row['event'] for row in harness.app.audit.history() if row['version'] == label]}")
    return rows[0]


def figures_recorded(harness: Harness, details: dict[str, Any], candidate: str, parent: str) -> None:
    """Every figure of both models is recorded, as the evaluator measured them."""
    for role, label in (("parent", parent), ("candidate", candidate)):
        measured = harness.evaluator.figures.get(label, harness.evaluator.default)
        assert details["figures"][role] == {name: getattr(measured, name) for name in FIGURES}
    assert details["parent_id"] == str(harness.app.ledger.version(parent).id)
    named = {gate["name"] for gate in details["gates"]}
    assert {"validation_accuracy", "test_regression", "latency"} <= named
    judged = {f"segment_regression/{segment}" for segment, figures in harness.evaluator.per_image_type.items()
              if figures["items"] >= harness.app.settings.validation.segment_min_items}
    assert named - {"validation_accuracy", "test_regression", "latency"} == judged


@then(parsers.parse("{candidate} is validated against {parent} with every figure"))
def candidate_validated(harness: Harness, campaign: RetrainCampaign, candidate: str, parent: str) -> None:
    details = judgement(harness, candidate, "CandidateValidated")["details"]
    figures_recorded(harness, details, candidate, parent)
    assert all(gate["passed"] for gate in details["gates"])
    assert harness.app.ledger.version(candidate).state != "rejected"
    assert (current(harness, campaign).state, current(harness, campaign).outcome) == ("completed",
                                                                                      "candidate_validated")


@then(parsers.parse('{candidate} is rejected against {parent} for failing "{gates}"'))
def candidate_rejected(harness: Harness, campaign: RetrainCampaign, candidate: str, parent: str, gates: str) -> None:
    details = judgement(harness, candidate, "CandidateRejected")["details"]
    figures_recorded(harness, details, candidate, parent)
    failed = [name.strip() for name in gates.split(",")]
    assert details["failed_gates"] == failed
    assert [gate["name"] for gate in details["gates"] if not gate["passed"]] == failed
    assert harness.app.ledger.version(candidate).state == "rejected"
    (completed,) = campaign_events(harness, campaign, "Completed")
    assert completed["details"]["outcome"] == "candidate_rejected"
    assert completed["details"]["details"]["failed"] == failed


@then(parsers.parse('{candidate} is rejected against {parent} for failing "{gate}" as not significant'))
def rejected_not_significant(harness: Harness, campaign: RetrainCampaign, candidate: str, parent: str,
                             gate: str) -> None:
    """Better on accuracy, but the interval of the difference reaches 0: the gate failed for that, and says so."""
    candidate_rejected(harness, campaign, candidate, parent, gate)
    recorded = recorded_gate(harness, campaign, gate)
    assert recorded["candidate"] > recorded["parent"], recorded
    assert (recorded["reason"], recorded["paired"]["interval"][0] <= 0) == (NOT_SIGNIFICANT, True), recorded
    assert "FAILED, not significant" in describe_gate(recorded)


@then(parsers.parse("the {gate} gate records the paired comparison of {items:d} items, {only_parent:d} right only by "
                    "{parent} and {only_candidate:d} only by {candidate}"))
def paired_recorded(harness: Harness, campaign: RetrainCampaign, gate: str, items: int, only_parent: int,
                    parent: str, only_candidate: int, candidate: str) -> None:
    """The counts, McNemar's p-value and the interval, as the rule computes them from the counts."""
    recorded = recorded_gate(harness, campaign, gate)["paired"]
    expected = compare_paired(items, only_parent, only_candidate)
    assert expected is not None
    assert recorded == expected, recorded


@then(parsers.parse("the {gate} gate records no paired comparison"))
def no_paired_recorded(harness: Harness, campaign: RetrainCampaign, gate: str) -> None:
    assert recorded_gate(harness, campaign, gate)["paired"] is None


@then(parsers.parse("the {gate} gate records a lower bound of {low} for the difference"))
def lower_bound_recorded(harness: Harness, campaign: RetrainCampaign, gate: str, low: str) -> None:
    """The lower bound to the precision written, on the same side of 0."""
    recorded = recorded_gate(harness, campaign, gate)["paired"]["interval"][0]
    precision = 0.5 * 10 ** -len(low.partition(".")[2])
    assert abs(recorded - float(low)) <= precision and (recorded > 0) == (float(low) > 0), recorded


def recorded_gate(harness: Harness, campaign: RetrainCampaign, gate: str) -> dict[str, Any]:
    """One gate of the candidate's verdict, as the history shows it."""
    label = current(harness, campaign).candidate["label"]
    (row,) = [row for row in harness.app.audit.history()
              if row["version"] == label and row["event"] in ("CandidateValidated", "CandidateRejected")]
    (recorded,) = [g for g in row["details"]["gates"] if g["name"] == gate]
    return recorded


@then(parsers.parse("the {gate} gate records parent {parent:g}, candidate {candidate:g} and limit {limit:g}"))
def gate_records(harness: Harness, campaign: RetrainCampaign, gate: str, parent: float, candidate: float,
                 limit: float) -> None:
    label = current(harness, campaign).candidate["label"]
    (row,) = [row for row in harness.app.audit.history()
              if row["version"] == label and row["event"] in ("CandidateValidated", "CandidateRejected")]
    (recorded,) = [g for g in row["details"]["gates"] if g["name"] == gate]
    assert (recorded["parent"], recorded["candidate"]) == (parent, candidate)
    assert abs(recorded["limit"] - limit) < 1e-9, recorded


@then(parsers.parse(
    '{candidate} is rejected against {parent} as not measurable: "{gate}" on {items:d} {unit} items of at least '
    '{minimum:d}'
))
def rejected_not_measurable(harness: Harness, campaign: RetrainCampaign, candidate: str, parent: str, gate: str,
                            items: int, unit: str, minimum: int) -> None:
    """The gate failed for want of items, with its counts and the command that attaches what it lacks."""
    details = judgement(harness, candidate, "CandidateRejected")["details"]
    (recorded,) = [g for g in details["gates"] if g["name"] == gate]
    assert (recorded["passed"], recorded["reason"], recorded["items"], recorded["min_items"], recorded["limit"]) == (
        False, "not_measurable", items, minimum, None), recorded
    option = "--test" if unit == "test" else "--val"
    assert f"`retrain model datasets {parent} {option} DIR`" in recorded["remedy"], recorded
    assert gate in details["failed_gates"]
    assert harness.app.ledger.version(candidate).state == "rejected"
    assert (current(harness, campaign).state, current(harness, campaign).outcome) == ("completed",
                                                                                      "candidate_rejected")


@then(parsers.parse("no {figure} was computed for either model"))
def no_figure_computed(harness: Harness, campaign: RetrainCampaign, figure: str) -> None:
    """No figure over 0 items: the verdict records the figure as absent, beside the 0 it would have been measured on."""
    label = current(harness, campaign).candidate["label"]
    (row,) = [row for row in harness.app.audit.history()
              if row["version"] == label and row["event"] in ("CandidateValidated", "CandidateRejected")]
    figures = row["details"]["figures"]
    assert (figures["parent"][figure], figures["candidate"][figure]) == (None, None), figures
    assert figures["measured_on"][figure]["items"] == 0
