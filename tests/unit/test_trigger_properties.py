"""Properties of the trigger rules (SPEC 4.1) over generated windows. Each expected verdict is computed here in
integers from the SPEC's wording (70% is 7 in 10, 1.5 x is 3 in 2, 5% is 1 in 20), not by the rule's own code."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.policy import DEFAULT_NEGATIVE_TERMS
from domain.rules.error_rate import evaluate_error_rate
from domain.rules.latency import evaluate_latency
from domain.rules.negative_comments import evaluate_negative_comments
from domain.rules.satisfaction import evaluate_image_types, evaluate_satisfaction

PROPERTIES = settings(deadline=None, database=None, max_examples=150)
outcomes = st.lists(st.integers(0, 1), max_size=250)


# -- satisfaction (4.1.1) ----------------------------------------------------------------------------------------
@PROPERTIES
@given(outcomes, st.integers(1, 200), st.data())
def test_satisfaction_breaches_iff_under_the_threshold_over_the_last_window(rated: list[int], window: int,
                                                                            data: st.DataObject) -> None:
    minimum = data.draw(st.integers(1, window))
    percent = data.draw(st.integers(0, 100))
    verdict = evaluate_satisfaction(rated, window=window, minimum=minimum, threshold=percent / 100)
    recent = rated[-window:]
    if len(recent) < minimum:
        assert verdict.state == "not_evaluated" and verdict.observed is None
        return
    satisfied = sum(recent)
    assert verdict.state == ("breached" if 100 * satisfied < percent * len(recent) else "ok")
    assert (verdict.window, verdict.evidence) == (len(recent), {"satisfied": satisfied, "rated": len(recent)})


@PROPERTIES
@given(st.integers(1, 50).map(lambda tens: 10 * tens), outcomes, st.data())
def test_a_window_exactly_at_70_percent_holds_and_one_satisfied_less_breaches(window: int, older: list[int],
                                                                              data: st.DataObject) -> None:
    at_threshold = data.draw(st.permutations([1] * (7 * window // 10) + [0] * (3 * window // 10)))
    just_under = list(at_threshold)
    just_under[just_under.index(1)] = 0  # one satisfied answer of the window turned into a dissatisfied one
    for window_outcomes, state in ((at_threshold, "ok"), (just_under, "breached")):
        verdict = evaluate_satisfaction(older + window_outcomes, window=window, minimum=window, threshold=0.70)
        assert verdict.state == state, (window, sum(window_outcomes))


# -- latency (4.1.2) ---------------------------------------------------------------------------------------------
@PROPERTIES
@given(st.lists(st.integers(0, 5_000), max_size=80), st.none() | st.integers(1, 2_000), st.integers(1, 60))
def test_latency_breaches_iff_the_mean_of_the_last_window_is_above_1_5_times_the_baseline(
        tenths: list[int], baseline: int | None, window: int) -> None:
    verdict = evaluate_latency([t / 10 for t in tenths], baseline_ms=baseline and baseline / 10, window=window,
                               factor=1.5)
    recent = tenths[-window:]
    if baseline is None or len(recent) < window:
        assert verdict.state == "not_evaluated"
        return
    assert verdict.state == ("breached" if 2 * sum(recent) > 3 * baseline * window else "ok")


@PROPERTIES
@given(st.integers(1, 1_000).map(lambda half: 2 * half), st.integers(1, 60), st.integers(0, 59))
def test_latency_exactly_1_5_times_the_baseline_holds_and_a_tenth_of_a_millisecond_more_breaches(
        baseline: int, window: int, slower: int) -> None:
    at_limit = [3 * baseline // 2] * window  # in tenths of a millisecond: 1.5 x baseline, exactly
    above = list(at_limit)
    above[slower % window] += 1
    for latencies, state in ((at_limit, "ok"), (above, "breached")):
        verdict = evaluate_latency([t / 10 for t in latencies], baseline_ms=baseline / 10, window=window, factor=1.5)
        assert verdict.state == state


# -- error rate (4.1.3) ------------------------------------------------------------------------------------------
@PROPERTIES
@given(st.integers(0, 2_000), st.data())
def test_the_error_rate_breaches_iff_above_5_percent_from_100_predictions(predictions: int,
                                                                          data: st.DataObject) -> None:
    errors = data.draw(st.integers(0, predictions))
    verdict = evaluate_error_rate(errors, predictions, threshold=0.05, minimum=100)
    if predictions < 100:
        assert verdict.state == "not_evaluated"
    else:
        assert verdict.state == ("breached" if 20 * errors > predictions else "ok")


@PROPERTIES
@given(st.integers(5, 100).map(lambda n: 20 * n))
def test_an_error_rate_of_exactly_5_percent_holds_and_one_error_more_breaches(predictions: int) -> None:
    assert evaluate_error_rate(predictions // 20, predictions, threshold=0.05, minimum=100).state == "ok"
    assert evaluate_error_rate(predictions // 20 + 1, predictions, threshold=0.05, minimum=100).state == "breached"


# -- negative comments (4.1.4) -----------------------------------------------------------------------------------
FILLER = ["image", "photo", "ok", "merci", "7", "c'est", "flouté", "badminton", "wrongly", "incorrectement",
          "faussement", "mauvaisement", "fauxbourg", "flous"]  # none of them a watched term as a whole word
ACCENTED = str.maketrans("aeiou", "áéîôü")
spellings = st.sampled_from([str.lower, str.upper, str.title, lambda term: term.translate(ACCENTED)])


@st.composite
def comment(draw: st.DrawFn, term: str | None) -> str:
    words = draw(st.lists(st.sampled_from(FILLER), max_size=6))
    if term is not None:
        words.insert(draw(st.integers(0, len(words))), draw(spellings)(term))
    return draw(st.sampled_from([" ", ", ", "! ", "\n"])).join(words)


@PROPERTIES
@given(st.lists(st.none() | st.sampled_from(DEFAULT_NEGATIVE_TERMS), max_size=40), st.integers(1, 30), st.data())
def test_negative_comments_breach_iff_at_least_the_minimum_name_a_watched_term(
        terms: list[str | None], minimum: int, data: st.DataObject) -> None:
    comments = [data.draw(comment(term)) for term in terms]
    verdict = evaluate_negative_comments(comments, terms=DEFAULT_NEGATIVE_TERMS, minimum=minimum)
    named = [term for term in terms if term is not None]
    assert verdict.observed == len(named)
    assert verdict.state == ("breached" if len(named) >= minimum else "ok")
    assert verdict.evidence["per_term"] == dict(Counter(named))


# -- image type (4.1.5) ------------------------------------------------------------------------------------------
@PROPERTIES
@given(st.dictionaries(st.sampled_from(["scan", "phone", "webcam"]), outcomes, max_size=3))
def test_each_image_type_is_judged_on_its_own_last_100_from_30(by_type: dict[str, list[int]]) -> None:
    verdicts = evaluate_image_types(by_type, window=100, minimum=30, threshold=0.70)
    assert [v.segment for v in verdicts] == sorted(by_type)
    for verdict in verdicts:
        recent = by_type[verdict.segment][-100:]
        expected = ("not_evaluated" if len(recent) < 30
                    else "breached" if 10 * sum(recent) < 7 * len(recent) else "ok")
        assert (verdict.rule, verdict.state) == ("image_type", expected)
