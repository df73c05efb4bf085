"""Steps of the audit trail (section 3): who decided what and when, the filtered history, `explain`, privacy."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from pytest_bdd import given, parsers, then, when

from application.audit import HistoryFilter
from application.records import StoredFeedback, StoredPrediction
from domain.errors import NotFound
from domain.rules.validation_gates import ModelFigures
from tests.harness import Harness, png
from tests.steps.rollout_steps import attempt, check_into_phase, rows, serve_healthy_traffic

ACTORS = re.compile(r"system:(monitor|campaign|rollout|worker)|(user|token|api):\S+")
CONSENTING_USER = "jeanne-dupont-1987"
SHY_USER = "paul-martin-42"
COMMENT = "image floue, c'est un 7. Jeanne Dupont, 12 rue des Lilas"
UNLABELLED_COMMENT = "vraiment mauvais, Paul Martin 06 12 34 56 78"


# -- the story --------------------------------------------------------------------------------------------
def drift_on(harness: Harness, label: str) -> None:
    """Phone users turn unhappy: 60 consented labelled complaints with images, 40 unconsented ones, all named."""
    version_id = str(harness.app.ledger.version(label).id)
    now = harness.clock.now()
    predictions, answers = [], []
    for n in range(100):
        consented = n < 60
        pid = harness.next_id()
        sha = harness.blobs.put(png(n))
        predictions.append(StoredPrediction(pid, version_id, now, "1", 9.0, "ok", 0.6, "phone", sha,
                                            CONSENTING_USER if consented else SHY_USER))
        labelled = {"comment": COMMENT} if n % 2 else {"corrected_label": str(n % 10)}
        answers.append(StoredFeedback(pid, 0, now, **(labelled if consented else {"comment": UNLABELLED_COMMENT}),
                                      gdpr_consent=consented))
    harness.feedback.add(predictions, answers)
    harness.serve(label, 100, satisfied=100, image_type="scan", inference_ms=9.0)


def review_everything(harness: Harness, reviewer: str) -> None:
    campaign = harness.app.ledger.campaigns()[-1]
    for item in harness.app.review.items(str(campaign.id)):
        if item["decision"] is None:
            harness.app.review.decide(str(campaign.id), item["item"], approve=True, label=None, actor=reviewer)


def tell_story(harness: Harness, *, late_breach: bool) -> None:
    """v1 drifts on phone images, a campaign curates, rita reviews, v2 is trained, validated and rolled out."""
    harness.clock.advance(timedelta(hours=1))
    drift_on(harness, "v1")
    harness.evaluator.figures["v2"] = ModelFigures(0.9, 0.97, 1.0)
    harness.app.tick()
    if late_breach:
        harness.clock.advance(timedelta(minutes=30))
        harness.serve("v1", 100, errors=60)
        harness.app.tick()
    review_everything(harness, "user:rita")
    harness.app.tick()
    for hours in (24, 48):
        serve_healthy_traffic(harness)
        check_into_phase(harness, hours)
    assert harness.app.ledger.version("v2").state == "production", harness.app.ledger.version("v2").state


@given("the whole story of v2 has happened: drift on v1, a campaign, review, training, gates and a rollout")
def whole_story(harness: Harness) -> None:
    tell_story(harness, late_breach=False)


@given("the whole story of v2 has happened, with an error-rate breach joining the campaign during its review")
def whole_story_with_late_breach(harness: Harness) -> None:
    tell_story(harness, late_breach=True)
    assert [r["details"]["breach"]["rule"] for r in rows(harness, "BreachAttached")] == ["error_rate"]


@given(parsers.parse("the clock reads {moment}"))
def clock_reads(harness: Harness, moment: str) -> None:
    harness.clock.set(datetime.fromisoformat(moment))


# -- decisions ----------------------------------------------------------------------------------------------
@when("v1's users turn unhappy and the monitor evaluates v1")
def users_turn_unhappy(harness: Harness) -> None:
    harness.serve("v1", 100, satisfied=60)
    harness.app.monitoring.evaluate()


@when(parsers.parse('the operator "{name}" opens a campaign because "{reason}"'))
def operator_opens_campaign(harness: Harness, refusal: list[Exception], name: str, reason: str) -> None:
    attempt(refusal, lambda: harness.app.campaigns.open(reason=reason, actor=f"user:{name}"))


# -- reading the history ---------------------------------------------------------------------------------------
@when("the history is read", target_fixture="history")
def history_read(harness: Harness) -> list[dict[str, Any]]:
    return harness.app.audit.history()


@when(parsers.re(r"the history of (?P<label>v\d+) is read"), target_fixture="history")
def history_of_version(harness: Harness, label: str) -> list[dict[str, Any]]:
    return harness.app.audit.history(HistoryFilter(version=label))


@when(parsers.parse("the history of campaign {number:d} is read"), target_fixture="history")
def history_of_campaign(harness: Harness, number: int) -> list[dict[str, Any]]:
    return harness.app.audit.history(HistoryFilter(campaign=str(number)))


@when(parsers.parse("the history since {moment} is read"), target_fixture="history")
def history_since(harness: Harness, moment: str) -> list[dict[str, Any]]:
    return harness.app.audit.history(HistoryFilter(since=datetime.fromisoformat(moment)))


@when(parsers.parse("the history as of {moment} is read"), target_fixture="history")
def history_as_of(harness: Harness, moment: str) -> list[dict[str, Any]]:
    return harness.app.audit.history(HistoryFilter(as_of=datetime.fromisoformat(moment)))


@when(parsers.parse("someone asks to explain {label}"), target_fixture="explanation")
def explain(harness: Harness, label: str) -> dict[str, Any]:
    return harness.app.audit.explain(label)


# -- what the history shows ------------------------------------------------------------------------------------
@then(parsers.parse('the history records {event} at {moment} by "{actor}"'))
def recorded_at_by(harness: Harness, event: str, moment: str, actor: str) -> None:
    found = rows(harness, event)
    assert found, f"no {event} in the history"
    assert (found[-1]["time"], found[-1]["actor"]) == (datetime.fromisoformat(moment).isoformat(), actor)


@then("every event shows a time from the clock and an actor")
def every_event_timed_and_attributed(harness: Harness, history: list[dict[str, Any]]) -> None:
    start, now = datetime.fromisoformat("2026-01-01T00:00:00+00:00"), harness.clock.now()
    assert len(history) > 40
    for row in history:
        assert start <= datetime.fromisoformat(row["time"]) <= now, row
        assert row["actor"] and ACTORS.fullmatch(row["actor"]), row
    actors = {row["actor"] for row in history}
    assert {"system:monitor", "system:campaign", "system:rollout", "user:rita", "user:test"} <= actors, actors


@then("the events are shown oldest first, from v1's registration to v2's promotion")
def oldest_first(history: list[dict[str, Any]]) -> None:
    times = [datetime.fromisoformat(row["time"]) for row in history]
    assert times == sorted(times)
    assert (history[0]["version"], history[0]["event"]) == ("v1", "Registered")
    assert ("v2", "Promoted") in [(row["version"], row["event"]) for row in history[-3:]]


@then(parsers.parse("every event shown concerns {label}, by name or as a party to its rollout"))
def every_event_concerns(harness: Harness, history: list[dict[str, Any]], label: str) -> None:
    assert history
    rollout_ids = {str(r.id) for r in harness.app.ledger.rollouts() if label in (r.candidate_label, r.stable_label)}
    for row in history:
        named = {row["details"].get(field) for field in ("candidate_label", "stable_label", "by_version")}
        assert row["version"] == label or row["aggregate_id"] in rollout_ids or label in named, row


@then(parsers.parse("the events shown are {events}"))
def events_shown(history: list[dict[str, Any]], events: str) -> None:
    shown = [f"{row['aggregate']}.{row['event']}" for row in history]
    assert shown == events.split(", "), shown


@then(parsers.parse("the events shown include {events}"))
def events_include(history: list[dict[str, Any]], events: str) -> None:
    shown = [f"{row['aggregate']}.{row['event']}" for row in history]
    assert set(events.split(", ")) <= set(shown), shown


@then(parsers.parse("the events shown exclude {events}"))
def events_exclude(history: list[dict[str, Any]], events: str) -> None:
    shown = [f"{row['aggregate']}.{row['event']}" for row in history]
    assert not set(events.split(", ")) & set(shown), shown


@then(parsers.parse("no event shown is earlier than {moment}"))
def nothing_earlier(history: list[dict[str, Any]], moment: str) -> None:
    assert history and all(datetime.fromisoformat(r["time"]) >= datetime.fromisoformat(moment) for r in history)


@then(parsers.parse("no event shown is later than {moment}"))
def nothing_later(history: list[dict[str, Any]], moment: str) -> None:
    assert history and all(datetime.fromisoformat(r["time"]) <= datetime.fromisoformat(moment) for r in history)


@then(parsers.parse("the last traffic shift shown goes from {low:g}% to {high:g}%"))
def last_shift(history: list[dict[str, Any]], low: float, high: float) -> None:
    shifts = [r["details"] for r in history if r["event"] == "TrafficShifted"]
    assert (shifts[-1]["from_percent"], shifts[-1]["to_percent"]) == (low, high), shifts


@when(parsers.parse("someone asks for the history of {label}"))
def history_of_unknown(harness: Harness, refusal: list[Exception], label: str) -> None:
    try:
        harness.app.audit.history(HistoryFilter(version=label))
    except NotFound as error:
        refusal.append(error)


# -- explain ---------------------------------------------------------------------------------------------------
@then("the explanation tells the breaches, the campaign, the dataset, the training, the gates and the rollout, "
      "in that order")
def story_in_order(explanation: dict[str, Any]) -> None:
    chapters = [step["chapter"] for step in explanation["story"] if step["chapter"] != "service"]
    told = list(dict.fromkeys(chapters))
    assert told == ["breaches", "campaign", "dataset", "training", "gates", "rollout"], told
    assert chapters == sorted(chapters, key=told.index)


@then(parsers.parse("it names the {rule} breach of {label} observed at {observed:g} against {threshold:g}"))
def names_breach(explanation: dict[str, Any], rule: str, label: str, observed: float, threshold: float) -> None:
    found = [(b["observed"], b["threshold"]) for b in explanation["breaches"] if b["rule"] == rule]
    assert found == [(observed, threshold)], explanation["breaches"]
    assert explanation["parent"] == label


@then(parsers.parse("it names the dataset of {included:d} items, {excluded:d} excluded for lack of consent"))
def names_dataset(harness: Harness, explanation: dict[str, Any], included: int, excluded: int) -> None:
    dataset = explanation["dataset"]
    assert (dataset["included"], dataset["excluded"]["no_consent"]) == (included, excluded), dataset
    assert dataset["review"]["approved"] == len(dataset["awaiting_review"]), dataset["review"]
    assert dataset["trained_on"] == harness.app.ledger.version("v2").dataset_id


@then(parsers.parse("it names the {strategy} training strategy and the {count:d} gates passed"))
def names_training_and_gates(explanation: dict[str, Any], strategy: str, count: int) -> None:
    assert explanation["training"]["StrategyChosen"]["strategy"] == strategy
    assert explanation["gates"]["event"] == "CandidateValidated"
    assert [gate["passed"] for gate in explanation["gates"]["gates"]] == [True] * count


@then(parsers.parse("its rollout steps go {percents}"))
def rollout_steps(explanation: dict[str, Any], percents: str) -> None:
    shifts = [step for step in explanation["rollout_steps"] if step["event"] == "TrafficShifted"]
    shown = [f"{s['from_percent']:g}%" for s in shifts[:1]] + [f"{s['to_percent']:g}%" for s in shifts]
    assert " -> ".join(shown) == percents, shown
    assert explanation["rollout_steps"][-1]["event"] == "Completed"


@then(parsers.parse("the explanation of {label} has no campaign and tells its registration as production"))
def first_version_story(explanation: dict[str, Any], label: str) -> None:
    assert (explanation["version"], explanation["campaign"], explanation["breaches"]) == (label, None, [])
    assert [e["event"] for e in explanation["events"]][:2] == ["Registered", "Promoted"]


# -- privacy ---------------------------------------------------------------------------------------------------
@then("no event contains a comment, a user reference or image bytes")
def no_personal_data(history: list[dict[str, Any]]) -> None:
    forbidden = [COMMENT, UNLABELLED_COMMENT, CONSENTING_USER, SHY_USER, "Jeanne", "Dupont", "Paul Martin", "Lilas"]
    for row in history:
        text = json.dumps(row["details"], ensure_ascii=False, default=_refuse_bytes)
        leaked = [fragment for fragment in forbidden if fragment in text]
        assert not leaked, (row["aggregate"], row["event"], leaked)


def _refuse_bytes(value: Any) -> Any:
    raise AssertionError(f"an event carries a {type(value).__name__}, not ids, hashes, counts and rates")
