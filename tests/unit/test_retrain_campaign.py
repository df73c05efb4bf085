"""The RetrainCampaign aggregate's guards: each step of the procedure only in the state that allows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.errors import IllegalTransition, NotFound
from domain.retrain_campaign import RetrainCampaign

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BREACH = {"rule": "satisfaction", "segment": None, "observed": 0.6, "threshold": 0.7}
WHO: dict[str, Any] = {"actor": "system:campaign", "timestamp": T0 + timedelta(hours=1)}


def opened() -> RetrainCampaign:
    return RetrainCampaign(number=1, version_id="version-id", version_label="v1", breaches=[BREACH], reason=None,
                           actor="system:monitor", timestamp=T0)


def curated(awaiting: list[str] | None = None, included: int = 30) -> RetrainCampaign:
    campaign = opened()
    campaign.record_dataset(
        dataset_id="d" * 64, included=included, train_items=24, validation_items=included - 24,
        excluded={"no_consent": 3}, label_sources={"corrected_label": included, "comment": 0},
        awaiting_review=awaiting or [], **WHO,
    )
    return campaign


def reviewed() -> RetrainCampaign:
    campaign = curated()
    campaign.complete_review(auto=True, dataset_id=None, **WHO)
    return campaign


def training() -> RetrainCampaign:
    campaign = reviewed()
    campaign.choose_strategy(strategy="fine_tune", reasons=["no reason for full retraining held"], forced=False,
                             **WHO)
    campaign.start_training(config={"max_epochs": 20}, seed=0, **WHO)
    return campaign


def validating() -> RetrainCampaign:
    campaign = training()
    campaign.record_candidate(candidate_id="c-id", candidate_label="v2", artifact_sha256="a" * 64, metrics={}, **WHO)
    return campaign


def event_names(campaign: RetrainCampaign) -> list[str]:
    return [type(e).__name__ for e in campaign.collect_events()]


# -- opening and curation ---------------------------------------------------------------------------------
def test_a_campaign_opens_with_its_breaches_and_a_stable_id_per_number() -> None:
    campaign = opened()
    assert (campaign.state, campaign.breaches, campaign.version_label) == ("open", [BREACH], "v1")
    assert campaign.id == RetrainCampaign.create_id(number=1) != RetrainCampaign.create_id(number=2)
    assert event_names(campaign) == ["Opened"]


def test_a_dataset_with_critical_items_makes_the_campaign_await_review() -> None:
    campaign = curated(awaiting=["a", "b"])
    assert (campaign.state, campaign.pending_review, campaign.dataset["awaiting_review"]) == (
        "awaiting_review", ["a", "b"], 2)


def test_a_dataset_without_critical_items_leaves_the_campaign_open() -> None:
    campaign = curated()
    assert campaign.state == "open"
    assert campaign.curated_at == WHO["timestamp"]


def test_a_campaign_is_curated_once() -> None:
    campaign = curated()
    with pytest.raises(IllegalTransition, match="already has a curated dataset"):
        campaign.record_dataset(dataset_id="e" * 64, included=1, train_items=1, validation_items=0, excluded={},
                                label_sources={}, awaiting_review=[], **WHO)


def test_an_abandoned_campaign_cannot_be_curated() -> None:
    campaign = opened()
    campaign.abandon(reason="not needed", **WHO)
    with pytest.raises(IllegalTransition, match="it is abandoned"):
        campaign.record_dataset(dataset_id="e" * 64, included=1, train_items=1, validation_items=0, excluded={},
                                label_sources={}, awaiting_review=[], **WHO)


# -- review -----------------------------------------------------------------------------------------------
def test_each_decision_is_recorded_with_its_reviewer() -> None:
    campaign = curated(awaiting=["a", "b"])
    campaign.decide_review(item="a", decision="approved", label="4", actor="user:alice", timestamp=T0)
    assert campaign.review_decisions == {"a": {"decision": "approved", "label": "4", "actor": "user:alice"}}
    assert campaign.pending_review == ["b"]
    assert campaign.state == "awaiting_review"


def test_deciding_an_unknown_item_is_refused_as_not_found() -> None:
    campaign = curated(awaiting=["a"])
    with pytest.raises(NotFound, match="has no review item z"):
        campaign.decide_review(item="z", decision="approved", label=None, **WHO)


def test_deciding_an_item_twice_is_refused() -> None:
    campaign = curated(awaiting=["a", "b"])
    campaign.decide_review(item="a", decision="approved", label=None, **WHO)
    with pytest.raises(IllegalTransition, match="already decided"):
        campaign.decide_review(item="a", decision="rejected", label=None, **WHO)


def test_deciding_the_last_item_again_after_the_review_completed_is_refused_as_already_decided() -> None:
    campaign = curated(awaiting=["a"])
    campaign.decide_review(item="a", decision="approved", label=None, **WHO)
    campaign.complete_review(auto=False, dataset_id="f" * 64, **WHO)
    with pytest.raises(IllegalTransition, match="already decided"):
        campaign.decide_review(item="a", decision="rejected", label=None, **WHO)


def test_a_decision_is_approved_or_rejected() -> None:
    campaign = curated(awaiting=["a"])
    with pytest.raises(IllegalTransition, match="unknown review decision"):
        campaign.decide_review(item="a", decision="maybe", label=None, **WHO)


def test_nothing_can_be_reviewed_before_curation() -> None:
    with pytest.raises(IllegalTransition, match="cannot review campaign 1: it is open"):
        opened().decide_review(item="a", decision="approved", label=None, **WHO)


def test_the_review_completes_only_when_every_item_is_decided() -> None:
    campaign = curated(awaiting=["a", "b"])
    campaign.decide_review(item="a", decision="approved", label=None, **WHO)
    with pytest.raises(IllegalTransition, match="no finished review"):
        campaign.complete_review(auto=False, dataset_id=None, **WHO)
    campaign.decide_review(item="b", decision="rejected", label=None, **WHO)
    campaign.complete_review(auto=False, dataset_id="f" * 64, **WHO)
    assert (campaign.state, campaign.review_completed, campaign.training_dataset_id) == ("open", True, "f" * 64)


def test_rejected_items_no_longer_count_as_curated_items() -> None:
    campaign = curated(awaiting=["a", "b"], included=30)
    campaign.decide_review(item="a", decision="approved", label=None, **WHO)
    campaign.decide_review(item="b", decision="rejected", label=None, **WHO)
    assert campaign.curated_items == 29


def test_the_review_completes_once_and_never_before_curation() -> None:
    with pytest.raises(IllegalTransition):
        opened().complete_review(auto=True, dataset_id=None, **WHO)
    campaign = reviewed()
    with pytest.raises(IllegalTransition):
        campaign.complete_review(auto=True, dataset_id=None, **WHO)


def test_a_completed_campaign_cannot_complete_a_review() -> None:
    campaign = curated()
    campaign.complete(outcome="insufficient_data", details={}, **WHO)
    with pytest.raises(IllegalTransition, match="it is completed"):
        campaign.complete_review(auto=True, dataset_id=None, **WHO)


# -- strategy and training --------------------------------------------------------------------------------
def test_the_strategy_is_chosen_only_after_the_review() -> None:
    campaign = curated(awaiting=["a"])
    with pytest.raises(IllegalTransition, match="cannot choose a strategy for campaign 1: it is awaiting_review"):
        campaign.choose_strategy(strategy="full", reasons=[], forced=False, **WHO)
    with pytest.raises(IllegalTransition, match="no reviewed dataset"):
        opened().choose_strategy(strategy="full", reasons=[], forced=False, **WHO)


def test_an_operator_may_force_the_strategy_while_the_review_is_pending() -> None:
    campaign = curated(awaiting=["a"])
    campaign.choose_strategy(strategy="full", reasons=["forced by operator: full"], forced=True,
                             actor="user:olivia", timestamp=T0)
    assert (campaign.strategy, campaign.state) == ("full", "awaiting_review")


def test_forcing_a_strategy_needs_a_curated_dataset() -> None:
    with pytest.raises(IllegalTransition, match="no reviewed dataset"):
        opened().choose_strategy(strategy="full", reasons=[], forced=True, **WHO)


def test_training_needs_a_strategy_and_a_finished_review() -> None:
    with pytest.raises(IllegalTransition, match="no reviewed dataset and strategy"):
        reviewed().start_training(config={}, seed=0, **WHO)
    campaign = curated(awaiting=["a"])
    campaign.choose_strategy(strategy="full", reasons=[], forced=True, **WHO)
    with pytest.raises(IllegalTransition, match="it is awaiting_review"):
        campaign.start_training(config={}, seed=0, **WHO)


def test_training_records_its_attempt_and_cannot_start_twice() -> None:
    campaign = training()
    assert (campaign.state, campaign.attempts) == ("training", 1)
    with pytest.raises(IllegalTransition, match="it is training"):
        campaign.start_training(config={}, seed=0, **WHO)
    with pytest.raises(IllegalTransition, match="it is training"):
        campaign.choose_strategy(strategy="full", reasons=[], forced=True, **WHO)


def test_a_candidate_is_recorded_only_while_training() -> None:
    with pytest.raises(IllegalTransition, match="cannot record a candidate for campaign 1: it is open"):
        reviewed().record_candidate(candidate_id="c", candidate_label="v2", artifact_sha256="a", metrics={}, **WHO)
    campaign = validating()
    assert (campaign.state, campaign.candidate["label"]) == ("validating", "v2")


def test_a_failed_training_can_be_started_again_as_a_new_attempt() -> None:
    campaign = training()
    campaign.fail_training(error="RuntimeError: CUDA out of memory", **WHO)
    assert (campaign.state, campaign.last_error) == ("failed", "RuntimeError: CUDA out of memory")
    campaign.start_training(config={}, seed=0, **WHO)
    assert (campaign.state, campaign.attempts, campaign.last_error) == ("training", 2, None)
    assert event_names(campaign)[-3:] == ["TrainingStarted", "TrainingFailed", "TrainingStarted"]


def test_only_a_training_campaign_can_fail_its_training() -> None:
    with pytest.raises(IllegalTransition, match="cannot fail training for campaign 1: it is open"):
        reviewed().fail_training(error="boom", **WHO)
    with pytest.raises(IllegalTransition, match="it is validating"):
        validating().fail_training(error="boom", **WHO)


# -- completion and abandonment ---------------------------------------------------------------------------
def test_insufficient_data_ends_an_open_campaign_only() -> None:
    campaign = curated()
    campaign.complete(outcome="insufficient_data", details={"train_items": 19}, **WHO)
    assert (campaign.state, campaign.outcome, campaign.is_active) == ("completed", "insufficient_data", False)
    with pytest.raises(IllegalTransition, match="it is validating"):
        validating().complete(outcome="insufficient_data", details={}, **WHO)


@pytest.mark.parametrize("outcome", ["candidate_validated", "candidate_rejected"])
def test_a_judged_candidate_ends_a_validating_campaign_only(outcome: str) -> None:
    with pytest.raises(IllegalTransition, match="it is open"):
        reviewed().complete(outcome=outcome, details={}, **WHO)
    campaign = validating()
    campaign.complete(outcome=outcome, details={"candidate": "v2"}, **WHO)
    assert (campaign.state, campaign.outcome) == ("completed", outcome)


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(IllegalTransition, match="unknown campaign outcome"):
        validating().complete(outcome="promoted", details={}, **WHO)


@pytest.mark.parametrize("make", [opened, curated, training, validating])
def test_an_active_campaign_can_be_abandoned_once(make: Any) -> None:
    campaign = make()
    campaign.abandon(reason="superseded by a manual fix", actor="user:olivia", timestamp=T0)
    assert (campaign.state, campaign.is_active) == ("abandoned", False)
    with pytest.raises(IllegalTransition, match="it is abandoned"):
        campaign.abandon(reason="again", **WHO)


def test_a_completed_campaign_can_be_neither_abandoned_nor_joined_by_a_breach() -> None:
    campaign = curated()
    campaign.complete(outcome="insufficient_data", details={}, **WHO)
    with pytest.raises(IllegalTransition, match="it is completed"):
        campaign.abandon(reason="late", **WHO)
    with pytest.raises(IllegalTransition, match="it is completed"):
        campaign.attach_breach(breach=BREACH, **WHO)


def test_an_open_campaign_is_joined_by_a_later_breach() -> None:
    campaign = curated(awaiting=["a"])
    later = {**BREACH, "rule": "latency", "observed": 30.0}
    campaign.attach_breach(breach=later, **WHO)
    assert campaign.breaches == [BREACH, later]


def test_every_event_carries_its_actor() -> None:
    campaign = validating()
    assert {e.actor for e in campaign.collect_events()} == {"system:monitor", "system:campaign"}
