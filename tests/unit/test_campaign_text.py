"""`retrain campaign show` in words: each part of a campaign document told as a line a person reads."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.cli.campaign_text import breach_line, campaign_lines, gate_line

OPENED_BY_HAND = {"id": "c-1", "number": 3, "version": "v2", "state": "open", "opened_at": "2026-03-02T00:00:00+00:00",
                  "reason": "users complain about phone photos", "breaches": [], "dataset": None, "strategy": None,
                  "strategy_reasons": [], "candidate": None, "attempts": 0, "last_error": None}


@pytest.mark.parametrize(("breach", "line"), [
    ({"rule": "satisfaction", "segment": None, "observed": 0.62, "threshold": 0.7, "window": 100},
     "satisfaction: observed 0.62 < 0.70 over 100"),
    ({"rule": "image_type", "segment": "phone", "observed": 0.695, "threshold": 0.7, "window": 100},
     "image_type/phone: observed 0.695 < 0.70 over 100"),
    ({"rule": "latency", "segment": None, "observed": 6.5, "threshold": 6.0, "window": 50},
     "latency: observed 6.50 > 6.00 over 50"),
    ({"rule": "negative_comments", "segment": None, "observed": 20, "threshold": 20, "window": 31},
     "negative_comments: observed 20 >= 20 over 31"),
    ({"rule": "error_rate", "segment": None, "observed": 0.08, "threshold": 0.05},
     "error_rate: observed 0.08 > 0.05"),
])
def test_a_breach_reads_as_its_rule_the_observed_figure_against_the_threshold_and_its_window(
    breach: dict[str, Any], line: str
) -> None:
    assert breach_line(breach) == line


def test_a_campaign_opened_by_hand_says_why_and_what_it_does_not_have_yet() -> None:
    assert campaign_lines(OPENED_BY_HAND, None) == [
        "Campaign 3 on v2: open",
        "  id c-1",
        "  opened at 2026-03-02T00:00:00+00:00 by hand: users complain about phone photos",
        "Dataset: not curated yet",
        "Strategy: not chosen yet",
        "Candidate: none yet",
    ]


def test_a_completed_campaign_tells_its_outcome_counts_strategy_and_the_candidates_gates() -> None:
    campaign = OPENED_BY_HAND | {
        "state": "completed", "outcome": "candidate_rejected", "reason": None, "attempts": 1,
        "breaches": [{"rule": "satisfaction", "segment": None, "observed": 0.62, "threshold": 0.7, "window": 100}],
        "dataset": {"id": "d" * 64, "included": 43, "train_items": 35, "validation_items": 8,
                    "excluded": {"no_consent": 4, "duplicate": 2, "corrupted": 0}, "awaiting_review": 0,
                    "label_sources": {"corrected_label": 40, "comment": 3}},
        "strategy": "fine_tune", "strategy_reasons": ["full_unavailable: no original training set"], "candidate": "v3"}
    candidate = {"label": "v3", "state": "rejected", "validation": {
        "passed": False, "failed": ["test_regression"],
        "gates": [
            {"name": "validation_accuracy", "passed": True, "parent": 0.9, "candidate": 0.93, "limit": 0.9,
             "condition": "candidate > parent", "items": 120, "min_items": 20},
            {"name": "test_regression", "passed": False, "parent": None, "candidate": None, "limit": None,
             "condition": "candidate >= parent - 0.01", "items": 0, "min_items": 100, "reason": "not_measurable",
             "remedy": "attach an original test set: retrain model datasets v2 --test DIR"},
            {"name": "segment_regression/original", "passed": True, "parent": 0.95, "candidate": 0.94, "limit": 0.93,
             "condition": "candidate >= parent - 0.02 on 90 original items", "items": 90, "min_items": 50},
        ],
        "figures": {"per_image_type": {"original": {"v2": 0.95, "v3": 0.94, "items": 90},
                                       "phone": {"v2": 0.6, "v3": 0.9, "items": 30}}}}}

    lines = campaign_lines(campaign, candidate)

    assert lines[0] == "Campaign 3 on v2: completed (candidate_rejected)"
    assert lines[lines.index("Breaches:") + 1] == "  satisfaction: observed 0.62 < 0.70 over 100"
    assert "Dataset: 43 items included (35 train, 8 validation), 0 awaiting review" in lines
    assert "  excluded: no_consent 4, duplicate 2" in lines
    assert lines[lines.index("Strategy: fine_tune") + 1] == "  full_unavailable: no original training set"
    assert lines[lines.index("Candidate: v3, rejected (failed: test_regression)") + 1:] == [
        "  validation_accuracy passed: candidate 0.93 vs parent 0.90 (candidate > parent) on 120 items",
        "  test_regression FAILED, not_measurable: 0 items, at least 100 needed; attach an original test set: "
        "retrain model datasets v2 --test DIR",
        "  segment_regression/original passed: candidate 0.94 vs parent 0.95 (candidate >= parent - 0.02 on 90 "
        "original items)",
        "  accuracy on original images: v2 0.95 vs v3 0.94 on 90 items",
        "  accuracy on phone images: v2 0.60 vs v3 0.90 on 30 items",
    ]
    assert not any("{" in line for line in lines)


def test_a_candidate_still_in_training_or_validation_is_named_without_gates() -> None:
    campaign = OPENED_BY_HAND | {"state": "validating", "candidate": "v3"}

    assert campaign_lines(campaign, {"label": "v3", "state": "registered", "validation": None})[-1] == (
        "Candidate: v3 (registered), not validated yet")


def test_a_gate_without_its_item_count_is_told_with_its_figures_alone() -> None:
    gate = {"name": "latency", "passed": False, "parent": 4.0, "candidate": 7.25, "limit": 6.0,
            "condition": "candidate <= 1.5 x parent"}

    assert gate_line(gate) == "latency FAILED: candidate 7.25 vs parent 4.00 (candidate <= 1.5 x parent)"
