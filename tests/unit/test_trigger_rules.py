"""The pure rules of 4.1 and 4.2, at and around each boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.policy import DEFAULT_NEGATIVE_TERMS, TriggerPolicy
from domain.rules.campaigns import campaign_action_for_breach
from domain.rules.episodes import episode_transitions
from domain.rules.error_rate import evaluate_error_rate
from domain.rules.latency import evaluate_latency, measure_baseline
from domain.rules.negative_comments import evaluate_negative_comments, fold, watched_terms_in
from domain.rules.satisfaction import evaluate_image_types, evaluate_satisfaction
from domain.rules.verdicts import TriggerVerdict
from domain.rules.windows import is_reinforced, monitoring_windows

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def outcomes(satisfied: int, rated: int) -> list[int]:
    return [1] * satisfied + [0] * (rated - satisfied)


def satisfaction(satisfied: int, rated: int, *, window: int = 100, minimum: int = 100) -> TriggerVerdict:
    return evaluate_satisfaction(outcomes(satisfied, rated), window=window, minimum=minimum, threshold=0.70)


# -- satisfaction (4.1.1) -----------------------------------------------------------------------------------------
def test_69_satisfied_of_100_is_a_breach() -> None:
    verdict = satisfaction(69, 100)
    assert (verdict.state, verdict.observed, verdict.window) == ("breached", 0.69, 100)
    assert verdict.evidence == {"satisfied": 69, "rated": 100}


def test_70_satisfied_of_100_is_not_a_breach() -> None:
    verdict = satisfaction(70, 100)
    assert (verdict.state, verdict.observed) == ("ok", 0.70)


def test_99_rated_predictions_are_not_evaluated() -> None:
    verdict = satisfaction(0, 99)
    assert (verdict.state, verdict.observed, verdict.window) == ("not_evaluated", None, 99)


def test_only_the_last_100_rated_predictions_count() -> None:
    recent_ok = [0] * 50 + outcomes(70, 100)
    verdict = evaluate_satisfaction(recent_ok, window=100, minimum=100, threshold=0.70)
    assert (verdict.state, verdict.observed, verdict.window) == ("ok", 0.70, 100)


def test_an_older_good_stretch_does_not_hide_recent_dissatisfaction() -> None:
    verdict = evaluate_satisfaction([1] * 50 + outcomes(69, 100), window=100, minimum=100, threshold=0.70)
    assert verdict.state == "breached"


# -- image type (4.1.5) ------------------------------------------------------------------------------------------
def test_29_rated_in_a_segment_are_not_evaluated_and_30_are() -> None:
    verdicts = evaluate_image_types(
        {"phone": outcomes(0, 29), "scan": outcomes(20, 30)}, window=100, minimum=30, threshold=0.70
    )
    by_segment = {v.segment: v for v in verdicts}
    assert by_segment["phone"].state == "not_evaluated"
    assert (by_segment["scan"].state, by_segment["scan"].observed) == ("breached", 0.666667)
    assert {v.rule for v in verdicts} == {"image_type"}


def test_21_satisfied_of_30_in_a_segment_is_not_a_breach() -> None:
    (verdict,) = evaluate_image_types({"phone": outcomes(21, 30)}, window=100, minimum=30, threshold=0.70)
    assert (verdict.state, verdict.observed, verdict.segment) == ("ok", 0.70, "phone")


def test_a_segment_window_keeps_its_last_100_feedback() -> None:
    (verdict,) = evaluate_image_types(
        {"phone": [0] * 40 + outcomes(70, 100)}, window=100, minimum=30, threshold=0.70
    )
    assert (verdict.state, verdict.window) == ("ok", 100)


# -- latency (4.1.2) ---------------------------------------------------------------------------------------------
def test_a_mean_of_exactly_one_and_a_half_times_the_baseline_is_not_a_breach() -> None:
    verdict = evaluate_latency([150.0] * 50, baseline_ms=100.0, window=50, factor=1.5)
    assert (verdict.state, verdict.observed, verdict.threshold) == ("ok", 150.0, 150.0)


def test_a_mean_just_above_one_and_a_half_times_the_baseline_is_a_breach() -> None:
    verdict = evaluate_latency([150.0] * 49 + [151.0], baseline_ms=100.0, window=50, factor=1.5)
    assert (verdict.state, verdict.observed) == ("breached", 150.02)
    assert verdict.evidence == {"baseline_ms": 100.0, "factor": 1.5}


def test_exactly_one_and_a_half_times_a_0_3_ms_baseline_is_not_a_breach() -> None:
    # 1.5 * 0.3 is 0.44999999999999996 in floating point: a float comparison would call 0.45 ms a breach.
    assert evaluate_latency([0.45] * 50, baseline_ms=0.3, window=50, factor=1.5).state == "ok"


def test_49_ok_predictions_are_not_evaluated_and_50_are() -> None:
    assert evaluate_latency([300.0] * 49, baseline_ms=100.0, window=50, factor=1.5).state == "not_evaluated"
    assert evaluate_latency([300.0] * 50, baseline_ms=100.0, window=50, factor=1.5).state == "breached"


def test_only_the_last_50_ok_latencies_count() -> None:
    verdict = evaluate_latency([300.0] * 50 + [100.0] * 50, baseline_ms=100.0, window=50, factor=1.5)
    assert (verdict.state, verdict.observed, verdict.window) == ("ok", 100.0, 50)


def test_latency_without_a_baseline_is_not_evaluated() -> None:
    verdict = evaluate_latency([300.0] * 50, baseline_ms=None, window=50, factor=1.5)
    assert (verdict.state, verdict.observed) == ("not_evaluated", None)


def test_199_ok_predictions_measure_no_baseline() -> None:
    assert measure_baseline([100.0] * 199, sample=200) is None


def test_the_baseline_is_the_mean_of_the_first_200_ok_predictions() -> None:
    assert measure_baseline([100.0] * 100 + [120.0] * 100 + [500.0] * 50, sample=200) == 110.0


# -- error rate (4.1.3) ------------------------------------------------------------------------------------------
def test_50_errors_of_1000_is_not_a_breach() -> None:
    verdict = evaluate_error_rate(50, 1000, threshold=0.05, minimum=100)
    assert (verdict.state, verdict.observed) == ("ok", 0.05)


def test_51_errors_of_1000_is_a_breach() -> None:
    verdict = evaluate_error_rate(51, 1000, threshold=0.05, minimum=100)
    assert (verdict.state, verdict.observed, verdict.window) == ("breached", 0.051, 1000)
    assert verdict.evidence == {"errors": 51, "predictions": 1000}


def test_99_predictions_are_not_evaluated_for_the_error_rate() -> None:
    assert evaluate_error_rate(99, 99, threshold=0.05, minimum=100).state == "not_evaluated"
    assert evaluate_error_rate(6, 100, threshold=0.05, minimum=100).state == "breached"


def test_no_predictions_at_all_are_not_evaluated() -> None:
    assert evaluate_error_rate(0, 0, threshold=0.05, minimum=1).state == "not_evaluated"


# -- negative comments (4.1.4) -----------------------------------------------------------------------------------
def negative(comments: list[str]) -> TriggerVerdict:
    return evaluate_negative_comments(comments, terms=DEFAULT_NEGATIVE_TERMS, minimum=20)


def test_19_negative_comments_with_a_watched_term_are_not_a_breach() -> None:
    verdict = negative(["image floue"] * 19)
    assert (verdict.state, verdict.observed, verdict.threshold) == ("ok", 19.0, 20.0)


def test_20_negative_comments_with_a_watched_term_are_a_breach() -> None:
    verdict = negative(["image floue"] * 20)
    assert (verdict.state, verdict.observed) == ("breached", 20.0)
    assert verdict.evidence["per_term"] == {"floue": 20}


def test_comments_without_a_watched_term_do_not_count() -> None:
    verdict = negative(["image floue"] * 19 + ["pas terrible"] * 5)
    assert (verdict.state, verdict.observed, verdict.evidence["negative_comments"]) == ("ok", 19.0, 24)


def test_the_event_evidence_counts_each_term_and_each_comment_once() -> None:
    verdict = negative(["flou et mauvais"] * 10 + ["wrong label"] * 10)
    assert verdict.observed == 20.0
    assert verdict.evidence["per_term"] == {"flou": 10, "mauvais": 10, "wrong": 10}


@pytest.mark.parametrize("comment", ["flouté", "floutée", "flouter", "badly", "wrongly", "fauxfilet", "incorrectement"])
def test_a_term_inside_a_longer_word_is_not_a_match(comment: str) -> None:
    assert watched_terms_in(comment, DEFAULT_NEGATIVE_TERMS) == set()


@pytest.mark.parametrize(
    ("comment", "term"),
    [
        ("FLOUE", "floue"),
        ("Mauvaïs résultat", "mauvais"),
        ("c'est FAUX !", "faux"),
        ("Wrong, should be 4", "wrong"),
        ("image flou\u0301", "flou"),  # a combining accent, as some keyboards send it
        ("l'image floue", "floue"),
        ("(bad)", "bad"),
    ],
)
def test_a_term_matches_as_a_whole_word_whatever_its_case_and_accents(comment: str, term: str) -> None:
    assert watched_terms_in(comment, DEFAULT_NEGATIVE_TERMS) == {term}


def test_flou_and_floue_are_distinct_terms() -> None:
    assert watched_terms_in("flou", DEFAULT_NEGATIVE_TERMS) == {"flou"}
    assert watched_terms_in("floue", DEFAULT_NEGATIVE_TERMS) == {"floue"}


def test_a_configured_term_with_an_accent_matches_the_comment_without_it() -> None:
    assert watched_terms_in("image DEGRADEE", ["dégradée"]) == {"dégradée"}


def test_a_configured_phrase_matches_as_whole_words() -> None:
    assert watched_terms_in("image   pas  NETTE du tout", ["pas nette"]) == {"pas nette"}
    assert watched_terms_in("image pas nettement floue", ["pas nette"]) == set()


def test_fold_removes_case_and_accents() -> None:
    assert fold("FLOUÉ Mauvaïs") == "floue mauvais"


# -- reinforced windows (4.1) ------------------------------------------------------------------------------------
def test_the_normal_windows_are_100_100_30_and_50() -> None:
    windows = monitoring_windows(TriggerPolicy(), reinforced=False)
    assert (windows.satisfaction, windows.satisfaction_min, windows.image_type, windows.image_type_min,
            windows.latency) == (100, 100, 100, 30, 50)


def test_the_reinforced_windows_are_50_50_15_and_25() -> None:
    windows = monitoring_windows(TriggerPolicy(), reinforced=True)
    assert (windows.satisfaction, windows.satisfaction_min, windows.image_type, windows.image_type_min,
            windows.latency) == (50, 50, 50, 15, 25)


@pytest.mark.parametrize(
    ("elapsed", "reinforced"),
    [
        (timedelta(0), True),
        (timedelta(days=7) - timedelta(seconds=1), True),
        (timedelta(days=7), False),
        (timedelta(days=8), False),
        (-timedelta(seconds=1), False),
    ],
)
def test_monitoring_is_reinforced_for_7_days_after_a_promotion(elapsed: timedelta, reinforced: bool) -> None:
    assert is_reinforced(T0 + elapsed, T0, 7) is reinforced


def test_a_version_never_promoted_through_a_rollout_is_not_reinforced() -> None:
    assert is_reinforced(T0, None, 7) is False


# -- episodes (4.1) ----------------------------------------------------------------------------------------------
def verdict(state: str, rule: str = "satisfaction", segment: str | None = None) -> TriggerVerdict:
    return TriggerVerdict(rule, state, 0.7, 0.5 if state != "not_evaluated" else None, 100, segment)  # type: ignore[arg-type]


def test_a_rule_that_starts_failing_opens_an_episode() -> None:
    assert episode_transitions(set(), [verdict("breached")]) == [("breached", verdict("breached"))]


def test_a_rule_still_failing_records_nothing() -> None:
    assert episode_transitions({("satisfaction", None)}, [verdict("breached")]) == []


def test_a_failing_rule_that_passes_again_recovers() -> None:
    assert episode_transitions({("satisfaction", None)}, [verdict("ok")]) == [("recovered", verdict("ok"))]


def test_a_passing_rule_without_an_episode_records_nothing() -> None:
    assert episode_transitions(set(), [verdict("ok")]) == []


def test_a_rule_that_can_no_longer_be_evaluated_leaves_its_episode_open() -> None:
    assert episode_transitions({("satisfaction", None)}, [verdict("not_evaluated")]) == []


def test_segments_have_episodes_of_their_own() -> None:
    phone, scan = verdict("breached", "image_type", "phone"), verdict("breached", "image_type", "scan")
    assert episode_transitions({("image_type", "phone")}, [phone, scan]) == [("breached", scan)]


# -- campaigns (4.2) ---------------------------------------------------------------------------------------------
def test_a_breach_on_production_without_an_open_campaign_opens_one() -> None:
    assert campaign_action_for_breach("production", has_open_campaign=False) == "open"


def test_a_breach_on_production_with_an_open_campaign_joins_it() -> None:
    assert campaign_action_for_breach("production", has_open_campaign=True) == "attach"


@pytest.mark.parametrize("has_open_campaign", [False, True])
def test_a_breach_on_a_canary_is_left_to_its_rollout(has_open_campaign: bool) -> None:
    assert campaign_action_for_breach("canary", has_open_campaign=has_open_campaign) == "ignore"
