"""Steps of the campaigns (4.2): opened by a breach or by hand, breaches attached, one open campaign per version,
each step run by one worker at a time."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from domain.errors import DomainError
from tests.harness import Harness
from tests.steps.curation_steps import Images, labelled_answers
from tests.steps.monitoring_steps import RULES

RULE = "(?P<rule>" + "|".join(RULES) + ")"
COUNTS = {"no": 0, "one": 1, "two": 2}


def rows(harness: Harness, event: str) -> list[dict[str, Any]]:
    return [row for row in harness.app.audit.history() if row["aggregate"] == "RetrainCampaign"
            and row["event"] == event]


def opened(harness: Harness, number: int) -> dict[str, Any]:
    found = [row for row in rows(harness, "Opened") if row["details"]["number"] == number]
    assert found, f"campaign {number} was never opened: {[r['details'] for r in rows(harness, 'Opened')]}"
    return found[0]


def has_breach(breaches: list[dict[str, Any]], rule: str, observed: str) -> bool:
    return any(b["rule"] == RULES[rule] and b["observed"] == pytest.approx(float(observed)) for b in breaches)


# -- operators ----------------------------------------------------------------------------------------------------
@given(parsers.parse('the operator "{name}" has opened a campaign by hand because "{reason}"'))
def operator_has_opened(harness: Harness, name: str, reason: str) -> None:
    harness.app.campaigns.open(reason=reason, actor=f"user:{name}")


@when(parsers.parse('the operator "{name}" opens a campaign by hand because "{reason}"'))
def operator_opens(harness: Harness, refusal: list[DomainError], name: str, reason: str) -> None:
    try:
        harness.app.campaigns.open(reason=reason, actor=f"user:{name}")
    except DomainError as error:
        refusal.append(error)


@given(parsers.parse('campaign {number:d} has been abandoned because "{reason}"'))
def abandoned(harness: Harness, number: int, reason: str) -> None:
    harness.app.campaigns.abandon(str(number), reason=reason, actor="user:ops")


# -- campaigns that end without a new version ---------------------------------------------------------------------
@given(parsers.parse("campaign {number:d} ended with its candidate rejected"))
def ended_with_candidate_rejected(harness: Harness, images: Images, number: int) -> None:
    """Twenty consented corrections to train on; the candidate measures what its parent does, which the validation
    accuracy gate (strictly better) rejects."""
    campaign = harness.app.ledger.campaign(str(number))
    labelled_answers(harness, images, campaign.version_label, 20, "train")
    ended = harness.app.campaigns.advance(str(number))
    assert (ended.state, ended.outcome) == ("completed", "candidate_rejected"), (ended.state, ended.outcome)


@given(parsers.parse("campaign {number:d} ended with too few training items"))
def ended_with_too_few_items(harness: Harness, number: int) -> None:
    ended = harness.app.campaigns.advance(str(number))
    assert (ended.state, ended.outcome) == ("completed", "insufficient_data"), (ended.state, ended.outcome)


@then(parsers.parse("campaign {number:d} records that it waited {hours:d} hours after campaign {before:d} ended with "
                    "outcome {outcome}"))
def waited_the_cooldown(harness: Harness, number: int, hours: int, before: int, outcome: str) -> None:
    details = opened(harness, number)["details"]
    assert details["cooldown"] == {
        "after_campaign": before, "outcome": outcome, "cooldown_s": hours * 3600.0,
        "ended_at": harness.app.ledger.campaign(str(before)).ended_at.isoformat(),
    }
    assert f"campaign {before} ended with outcome {outcome}" in details["reason"]


# -- what the history shows ---------------------------------------------------------------------------------------
@then(parsers.parse('campaign {number:d} is opened for {label} by "{actor}"'))
def campaign_opened(harness: Harness, number: int, label: str, actor: str) -> None:
    row = opened(harness, number)
    assert (row["version"], row["actor"]) == (label, actor)


@then(parsers.re(r"campaign (?P<number>\d+) is triggered by the " + RULE
                 + r" breach observed at (?P<observed>\d+(?:\.\d+)?)"))
def triggered_by(harness: Harness, number: str, rule: str, observed: str) -> None:
    breaches = opened(harness, int(number))["details"]["breaches"]
    assert has_breach(breaches, rule, observed), breaches


@then(parsers.re(r"campaign (?P<number>\d+) is triggered by the (?P<rules>.+) breaches"))
def triggered_by_all(harness: Harness, number: str, rules: str) -> None:
    breaches = opened(harness, int(number))["details"]["breaches"]
    assert sorted(b["rule"] for b in breaches) == sorted(RULES[r] for r in rules.split(" and "))


@then(parsers.parse('campaign {number:d} records the reason "{reason}" and no breach'))
def opened_by_hand(harness: Harness, number: int, reason: str) -> None:
    details = opened(harness, number)["details"]
    assert (details["reason"], details["breaches"]) == (reason, [])


@then(parsers.re("the " + RULE + r" breach observed at (?P<observed>\d+(?:\.\d+)?) is attached to campaign "
                 r"(?P<number>\d+)"))
def attached(harness: Harness, rule: str, observed: str, number: str) -> None:
    campaign_id = opened(harness, int(number))["aggregate_id"]
    attached = [row for row in rows(harness, "BreachAttached") if row["aggregate_id"] == campaign_id]
    assert has_breach([row["details"]["breach"] for row in attached], rule, observed), attached
    assert all(row["actor"] == "system:monitor" for row in attached)


@then("no breach is attached to a campaign")
def nothing_attached(harness: Harness) -> None:
    assert rows(harness, "BreachAttached") == []


@then(parsers.re(r"(?P<label>v\d+) has (?P<count>\d+) campaigns?"))
def campaign_count(harness: Harness, label: str, count: str) -> None:
    assert len([row for row in rows(harness, "Opened") if row["version"] == label]) == int(count)


@then("no campaign is opened")
def no_campaign(harness: Harness) -> None:
    assert rows(harness, "Opened") == []


# -- workers and their claims -------------------------------------------------------------------------------------
def campaign_rows(harness: Harness, number: int, event: str) -> list[dict[str, Any]]:
    campaign_id = opened(harness, number)["aggregate_id"]
    return [row for row in rows(harness, event) if row["aggregate_id"] == campaign_id]


def still_to_curate(campaign: Any) -> bool:
    return campaign.state == "open" and campaign.dataset is None


@given(parsers.parse('the worker "{worker}" has claimed the {step} step of campaign {number:d}'))
def worker_has_claimed(harness: Harness, worker: str, step: str, number: int) -> None:
    assert harness.app.campaigns.claim(str(number), step, worker, lambda campaign: True) is not None


@given(parsers.parse("a worker of this machine has claimed the curate step of campaign {number:d} and exited"),
       target_fixture="exited_worker")
def exited_worker_has_claimed(harness: Harness, number: int) -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    worker = f"worker:{socket.gethostname()}:{process.pid}"
    assert harness.app.campaigns.claim(str(number), "curate", worker, still_to_curate) is not None
    return worker


@given(parsers.parse("{minutes:d} minutes have passed"))
def minutes_pass(harness: Harness, minutes: int) -> None:
    harness.clock.advance(timedelta(minutes=minutes))


@when(parsers.parse('the worker "{worker}" advances campaign {number:d}'))
def worker_advances(harness: Harness, worker: str, number: int) -> None:
    harness.app.campaigns.advance(str(number), worker=worker)


@when(parsers.parse('the workers "{first}" and "{second}" advance campaign {number:d} at the same time'),
      target_fixture="worker_failures")
def workers_advance_together(harness: Harness, monkeypatch: pytest.MonkeyPatch, first: str, second: str,
                             number: int) -> list[Exception]:
    """Both start together; whichever reaches the curation first is held there until the other has finished, so the
    other always meets a campaign whose curation is claimed but not yet recorded."""
    start, one_finished, failures = threading.Barrier(2), threading.Event(), []
    candidates = harness.feedback.curation_candidates

    def held_candidates(*args: Any, **kwargs: Any) -> Any:
        one_finished.wait(timeout=5)
        return candidates(*args, **kwargs)

    monkeypatch.setattr(harness.feedback, "curation_candidates", held_candidates)

    def work(worker: str) -> None:
        start.wait()
        try:
            harness.app.campaigns.advance(str(number), worker=worker)
        except Exception as error:  # noqa: BLE001 - kept for the `Then neither worker failed` step
            failures.append(error)
        finally:
            one_finished.set()

    workers = [threading.Thread(target=work, args=(worker,)) for worker in (first, second)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in workers), "a worker never finished"
    return failures


@then(parsers.re(r"the history of campaign (?P<number>\d+) shows the curate step claimed by (?P<claimants>.+)"))
def curate_claimed_by(harness: Harness, number: str, claimants: str, request: pytest.FixtureRequest) -> None:
    expected = [request.getfixturevalue("exited_worker") if name == "the exited worker" else name.strip('"')
                for name in re.split(r" then (?:by )?", claimants)]
    claims = [row for row in campaign_rows(harness, int(number), "StepClaimed") if row["details"]["step"] == "curate"]
    assert [row["details"]["worker"] for row in claims] == expected
    assert all(row["actor"] == "system:worker" for row in claims)


@then(parsers.re(r"the history of campaign (?P<number>\d+) shows (?P<count>no|one|two) claims? of the "
                 r"(?P<step>\w+) step"))
def claims_of_step(harness: Harness, number: str, count: str, step: str) -> None:
    claims = [row for row in campaign_rows(harness, int(number), "StepClaimed") if row["details"]["step"] == step]
    assert len(claims) == COUNTS[count], claims


@then(parsers.re(r"the history of campaign (?P<number>\d+) shows (?P<count>no|one|two) curations?"))
def curations(harness: Harness, number: str, count: str) -> None:
    assert len(campaign_rows(harness, int(number), "DatasetCurated")) == COUNTS[count]


@then("neither worker failed")
def no_worker_failed(worker_failures: list[Exception]) -> None:
    assert worker_failures == []
