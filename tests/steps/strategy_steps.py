"""Steps for the strategy (SPEC 4.4) and the recorded part of training (4.5), with the fake trainer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pytest_bdd import given, parsers, then, when

from domain.errors import DomainError, InvalidInput
from domain.retrain_campaign import RetrainCampaign
from tests.harness import Harness
from tests.steps.curation_steps import campaign_events, current

STRATEGY_WORDS = {"full retraining": "full", "fine-tuning": "fine_tune", "full": "full", "fine_tune": "fine_tune"}
NO_REASON = "no reason for full retraining held"


class ProcessKilled(BaseException):
    """Stands for a kill -9 during training: nothing after it runs, not even an except Exception."""


class KilledTrainer:
    def train(self, request: Any) -> Any:
        raise ProcessKilled


def latest_campaign(harness: Harness) -> RetrainCampaign:
    campaigns = harness.app.ledger.campaigns()
    assert campaigns, "no campaign was opened"
    return campaigns[-1]


def reason_keys(reasons: list[str]) -> set[str]:
    """'major_drift: satisfaction observed 0.49 < 0.5' -> 'major_drift'; the fine-tune reason -> 'none'."""
    return {"none" if reason == NO_REASON else reason.split(":")[0] for reason in reasons}


# -- Given ------------------------------------------------------------------------------------------------
@given(parsers.parse("{label} is in production with an original training set of {count:d} items"))
def production_with_training_set(harness: Harness, label: str, count: int) -> None:
    assert harness.app.ledger.next_version_label() == label
    harness.register(production=True, train_items=count)


@given(parsers.parse('{label} is in production after the trainings "{strategies}" since v1'))
def production_after_trainings(harness: Harness, label: str, strategies: str) -> None:
    """v1 (the original training set of 1000 items), then one version per strategy, each the parent of the next
    and holding its weights (real weights when v1 has them)."""
    parent = harness.register(production=False)
    chain = [s.strip() for s in strategies.split(",")]
    for index, strategy in enumerate(chain):
        parent = harness.app.models.register(
            weights=harness.blobs.get(parent.artifact_sha256), architecture="digits-cnn", classes=parent.classes,
            input_spec=parent.input_spec, baseline_ms=10.0, production=index == len(chain) - 1, actor="user:test",
            training={"parent_id": str(parent.id), "strategy": strategy, "metrics": {"train_items": 1020}},
        )
    assert parent.label == label and parent.state == "production"


@given(parsers.parse("a campaign was opened by hand on {label}"), target_fixture="campaign")
def campaign_opened_by_hand(harness: Harness, label: str) -> RetrainCampaign:
    campaign = harness.app.campaigns.open(reason="users report mistakes", actor="user:olivia")
    assert campaign.version_label == label
    return campaign


@given(parsers.parse('the trainer fails with "{error}"'))
def trainer_fails(harness: Harness, error: str) -> None:
    harness.trainer.failure = error


@given("the trainer works again")
def trainer_works_again(harness: Harness) -> None:
    harness.trainer.failure = None


@given("the process was killed while the campaign was training", target_fixture="campaign")
def killed_while_training(harness: Harness) -> RetrainCampaign:
    trainer, harness.app.training.trainer = harness.app.training.trainer, KilledTrainer()
    try:
        harness.app.campaigns.advance(str(latest_campaign(harness).id))
    except ProcessKilled:
        pass
    finally:
        harness.app.training.trainer = trainer
    campaign = latest_campaign(harness)
    assert campaign.state == "training"
    return campaign


@given(parsers.parse('the operator "{name}" has forced {strategy}'))
def operator_has_forced(harness: Harness, name: str, strategy: str) -> None:
    harness.app.training.force_strategy(str(latest_campaign(harness).id), STRATEGY_WORDS[strategy],
                                        actor=f"user:{name}")


# -- When -------------------------------------------------------------------------------------------------
@given("the campaign has been advanced", target_fixture="campaign")
@when("the campaign is advanced", target_fixture="campaign")
def campaign_advanced(harness: Harness) -> RetrainCampaign:
    return harness.app.campaigns.advance(str(latest_campaign(harness).id))


@when("the system ticks an hour later")
def system_ticks(harness: Harness) -> None:
    harness.clock.advance(timedelta(hours=1))
    harness.app.tick()


@when(parsers.parse('the operator "{name}" forces {strategy}'), target_fixture="campaign")
def operator_forces(harness: Harness, refusal: list[Any], name: str, strategy: str) -> RetrainCampaign:
    campaign = latest_campaign(harness)
    try:
        return harness.app.training.force_strategy(str(campaign.id), STRATEGY_WORDS.get(strategy, strategy),
                                                   actor=f"user:{name}")
    except (DomainError, InvalidInput) as error:
        refusal.append(error)
        return campaign


@when(parsers.parse('the operator "{name}" retries the campaign'), target_fixture="campaign")
def operator_retries(harness: Harness, refusal: list[Any], name: str) -> RetrainCampaign:
    campaign = latest_campaign(harness)
    try:
        return harness.app.campaigns.retry(str(campaign.id), actor=f"user:{name}")
    except DomainError as error:
        refusal.append(error)
        return campaign


# -- Then: strategy ---------------------------------------------------------------------------------------
def strategy_chosen(harness: Harness, campaign: RetrainCampaign) -> dict[str, Any]:
    (chosen,) = campaign_events(harness, campaign, "StrategyChosen")
    return chosen


@then(parsers.parse('the strategy chosen is {strategy} for the reasons "{reasons}"'))
def strategy_is(harness: Harness, campaign: RetrainCampaign, strategy: str, reasons: str) -> None:
    chosen = strategy_chosen(harness, campaign)
    assert (chosen["details"]["strategy"], chosen["details"]["forced"]) == (strategy, False)
    assert reason_keys(chosen["details"]["reasons"]) == {r.strip() for r in reasons.split(",")}, chosen
    assert current(harness, campaign).strategy == strategy


@then(parsers.parse('the strategy is forced to {strategy} by "{actor}", still recording the reasons "{reasons}"'))
def strategy_forced(harness: Harness, campaign: RetrainCampaign, strategy: str, actor: str, reasons: str) -> None:
    chosen = strategy_chosen(harness, campaign)
    assert (chosen["details"]["strategy"], chosen["details"]["forced"], chosen["actor"]) == (strategy, True, actor)
    expected = {"forced by operator"} | {r.strip() for r in reasons.split(",") if r.strip() != "none"}
    assert reason_keys(chosen["details"]["reasons"]) == expected, chosen


@then(parsers.parse("a reason names the {rule} breach observed at {observed:g}"))
def reason_names_breach(harness: Harness, campaign: RetrainCampaign, rule: str, observed: float) -> None:
    reasons = strategy_chosen(harness, campaign)["details"]["reasons"]
    assert any(rule in reason and f"observed {observed:g}" in reason for reason in reasons), reasons


# -- Then: training ---------------------------------------------------------------------------------------
@then(parsers.parse("training started with the {strategy} strategy, attempt {attempt:d}"))
def training_started(harness: Harness, campaign: RetrainCampaign, strategy: str, attempt: int) -> None:
    started = campaign_events(harness, campaign, "TrainingStarted")[-1]["details"]
    assert (started["strategy"], started["attempt"]) == (strategy, attempt)
    assert started["seed"] == harness.app.settings.training.seed
    assert started["config"]["max_epochs"] == (20 if strategy == "fine_tune" else 50)
    assert harness.trainer.requests[-1].strategy == strategy


@then(parsers.parse("the history shows the campaign's training as {events}"))
def training_history(harness: Harness, campaign: RetrainCampaign, events: str) -> None:
    names = {"StrategyChosen", "TrainingStarted", "TrainingFailed", "CandidateTrained"}
    shown = [row["event"] for row in harness.app.audit.history()
             if row["aggregate_id"] == str(campaign.id) and row["event"] in names]
    assert shown == [e.strip() for e in events.split(",")]


@then(parsers.parse("{candidate} is registered as the candidate trained from {parent} with the {strategy} strategy"))
def candidate_registered(harness: Harness, campaign: RetrainCampaign, candidate: str, parent: str,
                         strategy: str) -> None:
    (trained,) = campaign_events(harness, campaign, "CandidateTrained")
    assert trained["details"]["candidate_label"] == candidate
    version = harness.app.ledger.version(candidate)
    assert version.parent_id == str(harness.app.ledger.version(parent).id)
    assert (version.strategy, version.campaign_id) == (strategy, str(campaign.id))
    assert version.artifact_sha256 == trained["details"]["artifact_sha256"]
    assert harness.blobs.has(version.artifact_sha256)
    assert current(harness, campaign).candidate["label"] == candidate


@then(parsers.parse("training failed with a {error_class} and the campaign is failed"))
def training_failed(harness: Harness, campaign: RetrainCampaign, error_class: str) -> None:
    failed = campaign_events(harness, campaign, "TrainingFailed")[-1]["details"]
    assert failed["error"].startswith(f"{error_class}: "), failed
    assert current(harness, campaign).state == "failed"


@then(parsers.parse('the recorded failure does not quote "{text}"'))
def failure_not_quoted(harness: Harness, campaign: RetrainCampaign, text: str) -> None:
    assert all(text not in row["details"]["error"] for row in campaign_events(harness, campaign, "TrainingFailed"))


@then(parsers.parse('attempt {attempt:d} is recorded as failed with "{error}"'))
def attempt_failed(harness: Harness, campaign: RetrainCampaign, attempt: int, error: str) -> None:
    failures = {row["details"]["attempt"]: row for row in campaign_events(harness, campaign, "TrainingFailed")}
    assert error in failures[attempt]["details"]["error"], failures


@then("no strategy is recorded for the campaign")
def no_strategy(harness: Harness, campaign: RetrainCampaign) -> None:
    assert campaign_events(harness, campaign, "StrategyChosen") == []
    assert current(harness, campaign).strategy is None


@then("no candidate is registered")
def no_candidate(harness: Harness, campaign: RetrainCampaign) -> None:
    assert campaign_events(harness, campaign, "CandidateTrained") == []
    assert current(harness, campaign).candidate is None
    assert all(version.campaign_id is None for version in harness.app.ledger.versions())


@then(parsers.parse("the campaign's state is {state}"))
def campaign_is(harness: Harness, campaign: RetrainCampaign, state: str) -> None:
    assert current(harness, campaign).state == state
