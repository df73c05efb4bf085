"""The web console's queries over in-memory adapters, and the rules of its pages that need no browser."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.ui.charts import accuracy_chart, interval_chart, satisfaction_chart
from adapters.ui.review import class_keys, current_item
from adapters.ui.session import safe_next
from application.records import ReviewItem, StoredFeedback, StoredPrediction
from tests.harness import T0, Harness, build_harness


def test_satisfaction_is_told_per_version_label_and_per_image_type_by_day() -> None:
    h = build_harness()
    h.register()
    h.serve("v1", 10, satisfied=7, image_type="scan")
    h.serve("v1", 4, satisfied=1, image_type="phone")
    h.serve("v1", 5, satisfied=5, image_type="scan", at=T0 + timedelta(days=1))
    figures = h.app.console.satisfaction()
    [v1] = figures["versions"]
    assert v1["name"] == "v1"
    assert [(p["day"], p["rated"], p["satisfied"]) for p in v1["points"]] == [("2026-01-01", 14, 8),
                                                                              ("2026-01-02", 5, 5)]
    by_type = {s["name"]: [(p["rated"], p["rate"]) for p in s["points"]] for s in figures["image_types"]}
    assert by_type == {"phone": [(4, 0.25)], "scan": [(10, 0.7), (5, 1.0)]}
    assert h.app.console.satisfaction(T0 - timedelta(days=1)) == {"versions": [], "image_types": []}


def test_the_review_shows_each_item_with_its_prediction_and_hides_a_comment_once_consent_is_withdrawn() -> None:
    h = build_harness()
    v1 = h.register()
    campaign = h.app.campaigns.open(reason="complaints", actor="user:test")
    for pid, consent in (("p1", True), ("p2", False)):
        h.feedback.add([StoredPrediction(pid, str(v1.id), T0, "3", 4.0, "ok", 0.97, "phone", "sha-" + pid)],
                       [StoredFeedback(pid, 0, T0, "c'est un 7", None, consent)])
        h.feedback.save_review_items([ReviewItem(str(campaign.id), "i-" + pid, pid, "7", "comment",
                                                 ("label_from_comment",), "sha-" + pid)])
    review = h.app.console.review("1")
    assert (review["number"], review["version"], review["decided"], review["total"]) == (1, "v1", 0, 2)
    assert review["classes"] == [str(d) for d in range(10)]
    first, second = review["items"]
    assert (first["predicted_label"], first["confidence"], first["image_type"]) == ("3", 0.97, "phone")
    assert (first["label"], first["label_source"], first["comment"]) == ("7", "comment", "c'est un 7")
    assert second["comment"] is None  # the user withdrew consent: the reviewer no longer reads the comment


def with_v2_validated() -> Harness:
    """v1 in production, v2 validated against it: ready to roll out."""
    h = build_harness()
    h.register()
    h.register(production=False)
    v1, v2 = h.app.ledger.version("v1"), h.app.ledger.version("v2")
    v2.validate(parent_id=str(v1.id), gates=[], figures={}, actor="user:test", timestamp=T0)
    h.app.ledger.save(v2)
    return h


def test_a_rollout_shows_time_left_and_each_check_against_its_minimum() -> None:
    h = with_v2_validated()
    assert h.app.console.rollout() is None
    h.app.rollouts.start("v2", actor="user:test")
    h.clock.advance(timedelta(hours=6))
    shown = h.app.console.rollout()
    assert (shown["candidate"], shown["percent"], shown["seconds_left"]) == ("v2", 10, 18 * 3600)
    assert {c["name"]: (c["state"], c["samples"], c["minimum"]) for c in shown["checks"]} == {
        "satisfaction": ("insufficient", 0, 30), "error_rate": ("insufficient", 0, 50),
        "latency": ("insufficient", 0, 50), "satisfaction_floor": ("insufficient", 0, 30),
        "error_rate_floor": ("insufficient", 0, 50)}
    assert shown["alpha"] == 0.05
    h.app.rollouts.pause(reason="a complaint", actor="api:olivia")
    latest = h.app.console.rollout()["decisions"]
    assert [(d["event"], d["actor"], d["reason"]) for d in latest[:2]] == [
        ("Paused", "api:olivia", "a complaint"), ("TrafficShifted", "user:test", "rollout started")]


def test_each_check_is_told_over_the_phase_with_its_interval_and_each_decision_with_its_evidence() -> None:
    h = with_v2_validated()
    h.app.rollouts.start("v2", actor="user:test")
    for hour in range(1, 7):  # the candidate worse than the stable version, hour after hour
        h.serve("v2", 40, satisfied=16, at=T0 + timedelta(hours=hour))
        h.serve("v1", 120, satisfied=100, at=T0 + timedelta(hours=hour))
    h.clock.advance(timedelta(hours=8))
    shown = h.app.console.rollout()
    series = {s["name"]: s for s in shown["trajectory"]}
    satisfaction = series["satisfaction"]
    assert satisfaction["boundary"] == 0.0  # fails below -margin
    assert len(satisfaction["points"]) == 16
    times = [p["time"] for p in satisfaction["points"]]
    assert times == sorted(times) and times[-1] == h.clock.now().isoformat()
    first, last = satisfaction["points"][0], satisfaction["points"][-1]
    assert (first["state"], first["low"]) == ("insufficient", None)  # 30 minutes in: nothing served yet
    assert last["state"] == "failed" and last["high"] < 0 and last["low"] < last["estimate"] < last["high"]
    widths = [p["high"] - p["low"] for p in satisfaction["points"] if p["low"] is not None]
    assert widths == sorted(widths, reverse=True)  # the interval narrows as the ratings come in
    assert series["satisfaction_floor"]["boundary"] == 0.7 and series["latency"]["boundary"] > 0
    assert h.app.console.last_rollout() is None  # one is active
    h.app.rollouts.step()
    assert h.app.console.rollout() is None
    ended = h.app.console.last_rollout()
    assert ended is not None and (ended["number"], ended["state"]) == (1, "rolled_back")
    rolled_back = ended["decisions"][0]
    assert (rolled_back["event"], rolled_back["actor"]) == ("RolledBack", "system:rollout")
    failed = [e for e in rolled_back["evidence"] if e["state"] == "failed"]
    assert [e["name"] for e in failed] == ["satisfaction", "satisfaction_floor"]
    assert failed[0]["high"] < 0 and failed[0]["samples"] == 240 and failed[0]["stable_samples"] == 720
    assert h.app.console.last_rollout(h.clock.now() - timedelta(seconds=1)) is None  # then it was still active
    drawn = interval_chart(satisfaction)
    assert drawn.startswith("<svg") and 'class="band"' in drawn and "fails below +0 pts" in drawn
    assert "not enough samples yet" in interval_chart({**satisfaction, "points": satisfaction["points"][:1]})


def test_a_decision_shows_each_check_of_its_evidence_failed_first() -> None:
    from application.console import _shown_evidence

    evidence = {"satisfaction": {"state": "ok", "low": -0.01, "high": 0.2},
                "error_rate": {"state": "failed", "low": 0.01, "high": 0.09},
                "latency": {"state": "insufficient", "low": None, "high": None}, "note": "not a check"}
    assert [row["name"] for row in _shown_evidence(evidence)] == ["error_rate", "satisfaction"]
    assert _shown_evidence(None) == []


@pytest.mark.parametrize(("asked", "kept"), [
    ("/ui/rollout", "/ui/rollout"), ("/ui/campaigns/1/review?item=i1", "/ui/campaigns/1/review?item=i1"),
    ("//evil.example/ui/x", "/ui/models"), ("https://evil.example/ui/x", "/ui/models"), ("/v1/models", "/ui/models"),
    ("/ui\\..\\x", "/ui/models"), (None, "/ui/models"), ("", "/ui/models"),
])
def test_sign_in_sends_back_only_to_a_console_page_of_this_server(asked: str | None, kept: str) -> None:
    assert safe_next(asked) == kept


def test_a_class_key_is_its_first_character_unless_shared_or_taken_by_the_page() -> None:
    assert class_keys([str(d) for d in range(10)]) == {str(d): str(d) for d in range(10)}
    assert class_keys(["cat", "car", "dog", "apple", "Rabbit"]) == {"d": "dog"}


def test_the_current_item_is_the_one_asked_for_else_the_first_undecided() -> None:
    items = [{"item": "a", "decision": "approved"}, {"item": "b", "decision": None}, {"item": "c", "decision": None}]
    assert current_item(items, None) == 1
    assert current_item(items, "c") == 2
    assert current_item(items, "unknown") == 1
    assert current_item([{"item": "a", "decision": "rejected"}], None) == 0


def test_charts_are_svg_with_escaped_names_and_say_when_there_is_nothing_to_draw() -> None:
    drawn = satisfaction_chart([{"name": "<v1>", "points": [{"day": "2026-01-01", "rated": 4, "rate": 0.5}]}],
                               "Satisfaction", 0.7)
    assert drawn.startswith("<svg") and "&lt;v1&gt;" in drawn and "<v1>" not in drawn
    assert "threshold 70%" in drawn
    assert "no rated predictions yet" in satisfaction_chart([], "Satisfaction", 0.7)
    bars = accuracy_chart([{"version": "v1", "state": "production", "validation": 0.92, "test": 0.99}], "Accuracy")
    assert bars.count("<rect") >= 2 and "99.0%" in bars
    assert "no accuracy measured yet" in accuracy_chart([], "Accuracy")
