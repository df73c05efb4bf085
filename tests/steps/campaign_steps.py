"""Steps of the campaigns (4.2): opened by a breach or by hand, breaches attached, one open campaign per version."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from domain.errors import DomainError
from tests.harness import Harness
from tests.steps.monitoring_steps import RULES

RULE = "(?P<rule>" + "|".join(RULES) + ")"


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
