"""The accuracy gates of rule 4.6 record the paired comparison of their items, and `validation.require_significance`
makes gate 1 also require the lower bound of the difference's interval above 0 (SPEC 4.6, last paragraph)."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader

from adapters.cli.campaign_text import gate_line
from adapters.ui import rendering
from application.ports import Comparison
from application.settings import SettingsError, load_settings
from application.validation import describe_gate, judge_gates
from domain.payloads import GateResult, PairedItems, PairedResult
from domain.policy import ValidationPolicy
from domain.rules.paired_comparison import compare_paired, significant
from domain.rules.validation_gates import (
    NOT_MEASURABLE,
    NOT_SIGNIFICANT,
    ItemCounts,
    ModelFigures,
    PairedOn,
    judge_candidate,
)

PARENT = ModelFigures(validation_accuracy=0.80, test_accuracy=0.97, latency_ms=2.0)
BETTER = ModelFigures(validation_accuracy=0.85, test_accuracy=0.97, latency_ms=2.0)
MINIMUMS, ENOUGH = ItemCounts(validation=20, test=100), ItemCounts(validation=100, test=100)


def comparison(low: float) -> PairedResult:
    """A paired comparison whose interval starts at `low` (the counts are those of a +0.05 difference)."""
    return PairedResult(n=100, b=5, c=10, difference=0.05, interval=[low, 0.12], p_value=0.3, confidence=0.95)


def validation_gate(*, low: float | None, candidate: ModelFigures = BETTER, required: bool = True,
                    items: ItemCounts = ENOUGH) -> GateResult:
    paired = PairedOn(validation=None if low is None else comparison(low))
    return judge_candidate(PARENT, candidate, items=items, min_items=MINIMUMS, max_test_regression=0.01,
                           latency_factor=1.5, paired=paired, require_significance=required)[0]


@pytest.mark.parametrize(("low", "passed"), [(0.0001, True), (1e-12, True), (0.0, False), (-1e-12, False),
                                             (-0.02, False)])
def test_with_significance_required_the_lower_bound_must_be_above_0(low: float, passed: bool) -> None:
    gate = validation_gate(low=low)
    assert (gate["name"], gate["passed"]) == ("validation_accuracy", passed)
    assert gate["reason"] == (None if passed else NOT_SIGNIFICANT)
    assert gate["condition"] == "candidate > parent and 95% interval lower bound > 0"


def test_without_significance_required_the_literal_rule_stands_and_the_comparison_is_still_recorded() -> None:
    gate = validation_gate(low=-0.02, required=False)
    assert (gate["passed"], gate["reason"], gate["condition"]) == (True, None, "candidate > parent")
    assert gate["paired"] == comparison(-0.02)


def test_a_candidate_not_better_fails_on_accuracy_not_on_significance() -> None:
    gate = validation_gate(low=-0.1, candidate=PARENT)
    assert (gate["passed"], gate["reason"]) == (False, None)


def test_with_significance_required_a_gate_without_a_paired_comparison_cannot_pass() -> None:
    gate = validation_gate(low=None)
    assert (gate["passed"], gate["reason"]) == (False, NOT_SIGNIFICANT)


def test_a_gate_that_is_not_measurable_stays_so_and_records_no_comparison() -> None:
    gate = validation_gate(low=0.1, items=ItemCounts(validation=19, test=100))
    assert (gate["passed"], gate["reason"], gate["paired"]) == (False, NOT_MEASURABLE, None)


def test_significance_is_required_of_gate_1_only() -> None:
    gates = judge_candidate(PARENT, BETTER, items=ENOUGH, min_items=MINIMUMS, max_test_regression=0.01,
                            latency_factor=1.5, paired=PairedOn(comparison(0.1), comparison(-0.3)),
                            require_significance=True)
    assert [(g["name"], g["passed"], g["paired"]) for g in gates] == [
        ("validation_accuracy", True, comparison(0.1)), ("test_regression", True, comparison(-0.3)),
        ("latency", True, None)]


# -- as the application judges what the evaluator reported ---------------------------------------------------------
def reported(paired: PairedItems) -> Comparison:
    per_type = {"phone": {"v1": 0.40, "v2": 0.90, "items": 60}, "scan": {"v1": 0.95, "v2": 0.95, "items": 40}}
    return Comparison(PARENT, BETTER, per_type,
                      {"validation_accuracy": {"items": 100}, "test_accuracy": {"items": 100}}, paired)


def test_each_accuracy_gate_records_the_paired_comparison_of_its_own_items() -> None:
    counts = PairedItems(validation={"n": 100, "b": 3, "c": 8}, test={"n": 100, "b": 1, "c": 1},
                         per_image_type={"phone": {"n": 60, "b": 0, "c": 30}, "scan": {"n": 40, "b": 1, "c": 1}})
    gates = {g["name"]: g for g in judge_gates(reported(counts), ValidationPolicy(), parent="v1", candidate="v2")}
    assert gates["validation_accuracy"]["paired"] == compare_paired(100, 3, 8)
    assert gates["test_regression"]["paired"] == compare_paired(100, 1, 1)
    assert gates["segment_regression/phone"]["paired"] == compare_paired(60, 0, 30)
    assert gates["latency"]["paired"] is None
    assert "segment_regression/scan" not in gates  # fewer items than segment_min_items: reported, not judged


def test_an_evaluator_that_reports_no_counts_leaves_the_gates_without_a_comparison() -> None:
    gates = judge_gates(reported(PairedItems()), ValidationPolicy(), parent="v1", candidate="v2")
    assert all(g["paired"] is None for g in gates) and all(g["passed"] for g in gates)


@pytest.mark.parametrize(("b", "c", "passed"), [(8, 18, True), (3, 10, False), (0, 4, True), (0, 3, False)])
def test_require_significance_judges_the_interval_the_counts_give(b: int, c: int, passed: bool) -> None:
    candidate = ModelFigures(0.80 + (c - b) / 100, 0.97, 2.0)
    counts = PairedItems(validation={"n": 100, "b": b, "c": c})
    gate = judge_gates(Comparison(PARENT, candidate, {}, reported(counts).measured_on, counts),
                       ValidationPolicy(require_significance=True), parent="v1", candidate="v2")[0]
    assert gate["passed"] is passed and (gate["paired"] is not None and significant(gate["paired"])) is passed


# -- how it reads, and the setting -----------------------------------------------------------------------------------
def test_explain_reads_the_difference_its_interval_and_mcnemars_p() -> None:
    gate = {"name": "validation_accuracy", "passed": True, "parent": 0.62, "candidate": 0.91, "limit": 0.62,
            "condition": "candidate > parent", "items": 100,
            "paired": {"n": 100, "b": 0, "c": 29, "difference": 0.29, "interval": [0.2163, 0.3812], "p_value": 3.7e-9,
                       "confidence": 0.95}}
    assert describe_gate(gate) == (
        "validation_accuracy passed: candidate 0.91 vs parent 0.62 (candidate > parent; difference +0.29, "
        "95% interval +0.22..+0.38, McNemar p < 0.001)")


def test_a_gate_failed_for_want_of_significance_says_so_with_a_bound_that_never_reads_as_0() -> None:
    gate = {"name": "validation_accuracy", "passed": False, "parent": 0.80, "candidate": 0.87, "limit": 0.80,
            "condition": "candidate > parent and 95% interval lower bound > 0", "items": 100,
            "reason": NOT_SIGNIFICANT,
            "paired": {"n": 100, "b": 3, "c": 10, "difference": 0.07, "interval": [-0.000766, 0.1478],
                       "p_value": 0.0923, "confidence": 0.95}}
    assert describe_gate(gate) == (
        "validation_accuracy FAILED, not significant: candidate 0.87 vs parent 0.8 (candidate > parent and 95% "
        "interval lower bound > 0; difference +0.07, 95% interval -0.0008..+0.15, McNemar p = 0.092)")


def test_campaign_show_reads_a_failure_for_want_of_significance_with_the_comparison_not_as_not_measurable() -> None:
    gate = {"name": "validation_accuracy", "passed": False, "parent": 0.8, "candidate": 0.87, "limit": 0.8,
            "condition": "candidate > parent and 95% interval lower bound > 0", "items": 100, "min_items": 20,
            "reason": NOT_SIGNIFICANT, "remedy": None,
            "paired": {"n": 100, "b": 3, "c": 10, "difference": 0.07, "interval": [-0.000766, 0.1478],
                       "p_value": 0.0923, "confidence": 0.95}}
    assert gate_line(gate) == (
        "validation_accuracy FAILED, not significant: candidate 0.87 vs parent 0.80 (candidate > parent and 95% "
        "interval lower bound > 0; difference +0.07, 95% interval -0.0008..+0.15, McNemar p = 0.092) on 100 items")


def test_the_console_model_page_shows_the_paired_comparison_and_a_failure_for_want_of_significance() -> None:
    environment = Environment(loader=FileSystemLoader(rendering.HERE / "templates"), autoescape=True)
    environment.filters.update(percent=rendering._percent, figure=rendering._figure, moment=rendering._moment_text)
    gate = {"name": "validation_accuracy", "passed": False, "parent": 0.8, "candidate": 0.87, "limit": 0.8,
            "condition": "candidate > parent and 95% interval lower bound > 0", "items": 100, "min_items": 20,
            "reason": NOT_SIGNIFICANT, "remedy": None,
            "paired": {"n": 100, "b": 3, "c": 10, "difference": 0.07, "interval": [-0.000766, 0.1478],
                       "p_value": 0.0923, "confidence": 0.95}}
    entry = {"event": "CandidateRejected", "aggregate": "ModelVersion", "version": "v2", "chapter": "gates",
             "time": "2026-01-02T00:00:00+00:00", "actor": "system:campaign",
             "details": {"parent_id": "p", "failed_gates": ["validation_accuracy"], "gates": [gate]}}
    story = {"version": "v2", "state": "rejected", "architecture": "digits-cnn", "artifact_sha256": "a" * 64,
             "parent": "v1", "story": [entry]}
    page = environment.get_template("model.html").render(story=story, chapters={"gates": [entry]}, charts=[])
    row = page[page.index("<td>validation_accuracy</td>"):].split("</tr>")[0]
    assert "difference +0.070, 95% interval -0.0008..+0.1478, McNemar p 0.092" in row
    assert "of 100 items, 3 right only by the parent, 10 only by the candidate" in row
    assert "FAILED, not significant" in row


@pytest.fixture
def no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("RETRAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures(no_environment.__name__)
def test_significance_is_not_required_unless_the_file_or_the_environment_says_so(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert load_settings().validation.require_significance is False
    (tmp_path / "retrain.toml").write_text("[validation]\nrequire_significance = true\n")
    assert load_settings().validation.require_significance is True
    monkeypatch.setenv("RETRAIN_VALIDATION__REQUIRE_SIGNIFICANCE", "false")
    assert load_settings().validation.require_significance is False


@pytest.mark.usefixtures(no_environment.__name__)
def test_a_require_significance_that_is_not_a_boolean_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAIN_VALIDATION__REQUIRE_SIGNIFICANCE", '"maybe"')
    with pytest.raises(SettingsError, match=r"validation\.require_significance"):
        load_settings()
