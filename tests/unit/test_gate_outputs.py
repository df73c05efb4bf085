"""How a verdict reads where people read it (`explain`, `tick`, the console's model page): a gate that could not be
measured says so with its item counts and what to attach, never as a figure of 0.0%."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader

from adapters.cli.audit import describe_event
from adapters.ui import rendering
from application.validation import describe_failed, describe_gate

NOT_MEASURED: dict[str, Any] = {
    "name": "test_regression", "passed": False, "parent": None, "candidate": None, "limit": None,
    "condition": "candidate >= parent - 0.01", "items": 0, "min_items": 100, "reason": "not_measurable",
    "remedy": "attach an original test set with `retrain model datasets v1 --test DIR`"}
MEASURED: dict[str, Any] = {
    "name": "validation_accuracy", "passed": True, "parent": 0.8, "candidate": 0.85, "limit": 0.8,
    "condition": "candidate > parent", "items": 120, "min_items": 20, "reason": None, "remedy": None}
REJECTED: dict[str, Any] = {
    "event": "CandidateRejected", "aggregate": "ModelVersion", "version": "v2",
    "details": {"parent_id": "p", "failed_gates": ["test_regression"], "gates": [MEASURED, NOT_MEASURED],
                "figures": {"parent": {"validation_accuracy": 0.8, "test_accuracy": None, "latency_ms": 2.0},
                            "candidate": {"validation_accuracy": 0.85, "test_accuracy": None, "latency_ms": 2.0},
                            "measured_on": {"validation_accuracy": {"items": 120}, "test_accuracy": {"items": 0},
                                            "latency_ms": {"calls": 200}}}}}


def test_a_gate_that_could_not_be_measured_reads_with_its_counts_and_what_to_attach() -> None:
    assert describe_gate(NOT_MEASURED) == (
        "test_regression not measurable: 0 test items (at least 100); attach an original test set with "
        "`retrain model datasets v1 --test DIR`")


def test_a_measured_gate_reads_with_both_figures_and_its_condition() -> None:
    assert describe_gate(MEASURED) == "validation_accuracy passed: candidate 0.85 vs parent 0.8 (candidate > parent)"


def test_a_gate_recorded_before_the_minimums_still_reads_with_its_figures() -> None:
    older = {key: MEASURED[key] for key in ("name", "passed", "parent", "candidate", "limit", "condition")}
    assert describe_gate(older) == describe_gate(MEASURED)


def test_the_tick_line_of_a_rejection_names_only_the_failed_gates() -> None:
    assert describe_failed([MEASURED, NOT_MEASURED]) == describe_gate(NOT_MEASURED)


def test_explain_tells_a_gate_that_could_not_be_measured_and_no_accuracy_of_0() -> None:
    line = describe_event(REJECTED)
    assert line is not None and "test_regression not measurable: 0 test items (at least 100)" in line
    assert "retrain model datasets v1 --test DIR" in line
    assert "0.0%" not in line and "candidate - vs parent -" not in line


def test_explain_tells_a_candidate_trained_without_an_original_test_set_without_a_test_accuracy() -> None:
    line = describe_event({"event": "CandidateTrained", "aggregate": "RetrainCampaign", "version": "v1",
                           "details": {"candidate_label": "v2", "metrics": {"seconds": 3.2, "best_epoch": 2,
                                                                           "epochs_run": 5}}})
    assert line is not None and "no test accuracy: no original test set" in line and "0.0%" not in line


def test_the_console_model_page_shows_a_gate_that_could_not_be_measured_with_its_counts() -> None:
    environment = Environment(loader=FileSystemLoader(rendering.HERE / "templates"), autoescape=True)
    environment.filters.update(percent=rendering._percent, figure=rendering._figure, moment=rendering._moment_text)
    entry = {**REJECTED, "time": "2026-01-02T00:00:00+00:00", "actor": "system:campaign", "chapter": "gates"}
    story = {"version": "v2", "state": "rejected", "architecture": "digits-cnn", "artifact_sha256": "a" * 64,
             "parent": "v1", "story": [entry]}
    page = environment.get_template("model.html").render(story=story, chapters={"gates": [entry]}, charts=[])
    row = page[page.index("<td>test_regression</td>"):].split("</tr>")[0]
    assert "not measurable: 0 items, at least 100 needed" in row and "retrain model datasets v1 --test DIR" in row
    assert "NOT MEASURABLE" in row and "0.0%" not in row
