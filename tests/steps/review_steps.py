"""Steps for the human review of critical items (SPEC 4.3, "validation humaine")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pytest_bdd import given, parsers, then, when

from domain.errors import DomainError, InvalidInput, NotFound
from domain.retrain_campaign import RetrainCampaign
from domain.rules.curation import item_reference
from tests.harness import Harness
from tests.steps.curation_steps import (
    Answer,
    Images,
    campaign_events,
    curate_by_hand,
    current,
    entries_of,
    labelled_answers,
    write_answers,
)


@given("review is not required", target_fixture="harness")
def review_not_required(make_harness: Callable[..., Harness]) -> Harness:
    """A fresh application whose settings say review.required = false."""
    return make_harness(review={"required": False})


@given(parsers.parse('the feedback of {label} was curated with the items "{items}" labelled in comments'),
       target_fixture="campaign")
def curated_with_comment_labels(harness: Harness, images: Images, label: str, items: str) -> RetrainCampaign:
    """20 non-critical answers ready for training, plus items labelled "7", "8", "9"... in comments only."""
    labelled_answers(harness, images, label, 20, "train")
    names = [name.strip() for name in items.split(",")]
    write_answers(harness, images, label, [
        Answer(name, "0", comment=f"c'est un {7 + index}") for index, name in enumerate(names)
    ])
    harness.clock.advance(timedelta(hours=1))
    return curate_by_hand(harness)


QUOTED = r'"(?P<{}>[^"]+)"'
REVIEWER = r"reviewer " + QUOTED.format("name")
ITEM = QUOTED.format("item")
WITH_LABEL = r"(?: with the label " + QUOTED.format("label") + ")?"


def decide(harness: Harness, campaign: RetrainCampaign, refusal: list[Any], name: str, item: str, *,
           approve: bool, label: str | None = None) -> None:
    """A reviewer's decision; a refused one is kept for a `the command is refused` step."""
    try:
        harness.app.review.decide(str(campaign.id), item, approve=approve, label=label, actor=f"user:{name}")
    except (DomainError, NotFound, InvalidInput) as error:
        refusal.append(error)


@given(parsers.re(REVIEWER + " has approved " + ITEM + WITH_LABEL))
@when(parsers.re(REVIEWER + " approves " + ITEM + WITH_LABEL))
def approves(harness: Harness, campaign: RetrainCampaign, refusal: list[Any], name: str, item: str,
             label: str | None) -> None:
    decide(harness, campaign, refusal, name, item, approve=True, label=label)


@given(parsers.re(REVIEWER + " has rejected " + ITEM))
@when(parsers.re(REVIEWER + " rejects " + ITEM + WITH_LABEL))
def rejects(harness: Harness, campaign: RetrainCampaign, refusal: list[Any], name: str, item: str,
            label: str | None = None) -> None:
    decide(harness, campaign, refusal, name, item, approve=False, label=label)


# -- Then -------------------------------------------------------------------------------------------------
def review_queue(harness: Harness, campaign: RetrainCampaign) -> dict[str, dict[str, Any]]:
    """`retrain review list` as a dict by item."""
    return {row["prediction_id"]: row for row in harness.app.review.items(str(campaign.id))}


@then(parsers.parse('the campaign awaits review of "{items}"'))
def campaign_awaits_review(harness: Harness, campaign: RetrainCampaign, items: str) -> None:
    expected = {name.strip() for name in items.split(",")}
    assert current(harness, campaign).state == "awaiting_review"
    pending = {item for item, row in review_queue(harness, campaign).items() if row["decision"] is None}
    assert pending == expected
    assert campaign_events(harness, campaign, "ReviewCompleted") == []


@then(parsers.parse('the review list shows "{item}" {decision} with the label "{label}"'))
def review_list_shows(harness: Harness, campaign: RetrainCampaign, item: str, decision: str, label: str) -> None:
    row = review_queue(harness, campaign)[item]
    assert (row["decision"], row["label"], row["label_source"]) == (decision, label, "comment")


@then(parsers.re(r"the history records that " + QUOTED.format("actor") + r" (?P<decision>approved|rejected) "
                 + ITEM + WITH_LABEL))
def history_records_decision(harness: Harness, campaign: RetrainCampaign, actor: str, decision: str, item: str,
                             label: str | None) -> None:
    decided = [row for row in campaign_events(harness, campaign, "ReviewDecided")
               if row["details"]["item"] == item_reference(item)]
    assert len(decided) == 1, decided
    assert decided[0]["actor"] == actor
    assert (decided[0]["details"]["decision"], decided[0]["details"]["label"]) == (decision, label)


@then(parsers.parse('the review is completed by "{actor}" with {approved:d} approved and {rejected:d} rejected'))
def review_completed(harness: Harness, campaign: RetrainCampaign, actor: str, approved: int, rejected: int) -> None:
    (completed,) = campaign_events(harness, campaign, "ReviewCompleted")
    assert completed["actor"] == actor
    details = completed["details"]
    assert (details["auto"], details["approved"], details["rejected"]) == (False, approved, rejected)
    assert current(harness, campaign).state == "open"


@then("the review is completed automatically, without any decision")
def review_completed_automatically(harness: Harness, campaign: RetrainCampaign) -> None:
    (completed,) = campaign_events(harness, campaign, "ReviewCompleted")
    assert completed["details"]["auto"] is True
    assert campaign_events(harness, campaign, "ReviewDecided") == []
    assert review_queue(harness, campaign) == {}


def training_manifest(harness: Harness, campaign: RetrainCampaign) -> dict[str, dict[str, Any]]:
    """The dataset the candidate was trained on (as its registration records it), by item."""
    (trained,) = campaign_events(harness, campaign, "CandidateTrained")
    dataset_id = harness.app.ledger.version(trained["details"]["candidate_label"]).dataset_id
    assert harness.trainer.requests[-1].dataset_id == dataset_id
    return entries_of(harness, dataset_id)


@then(parsers.parse('training uses "{item}" labelled "{label}"'))
def training_uses(harness: Harness, campaign: RetrainCampaign, item: str, label: str) -> None:
    assert training_manifest(harness, campaign)[item]["label"] == label


@then(parsers.parse('training leaves out "{item}"'))
def training_leaves_out(harness: Harness, campaign: RetrainCampaign, item: str) -> None:
    entries = training_manifest(harness, campaign)
    assert item not in entries
    assert len(entries) >= 20


@then("no training has started")
def no_training(harness: Harness, campaign: RetrainCampaign) -> None:
    assert campaign_events(harness, campaign, "TrainingStarted") == []
    assert harness.trainer.requests == []


@then(parsers.parse("the history records {count:d} review decisions"))
def review_decisions_recorded(harness: Harness, campaign: RetrainCampaign, count: int) -> None:
    assert len(campaign_events(harness, campaign, "ReviewDecided")) == count
