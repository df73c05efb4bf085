"""Campaign steps are claimed: one worker at a time runs a step, until its claim lapses, its holder is gone, or the
step's outcome is recorded."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.campaigns import worker_gone, worker_name
from domain.errors import IllegalTransition, StepAlreadyClaimed
from domain.retrain_campaign import RetrainCampaign
from tests.harness import Harness, build_harness

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(minutes=15)
ALICE, BOB = "worker:node-a:101", "worker:node-b:202"  # other hosts than this one: trusted until their lease lapses
WHO: dict[str, Any] = {"actor": "system:campaign", "timestamp": T0}
MICROSECOND = timedelta(microseconds=1)


# -- campaigns in each state ----------------------------------------------------------------------------------
def opened() -> RetrainCampaign:
    return RetrainCampaign(number=1, version_id="version-id", version_label="v1", breaches=[], reason="by hand",
                           actor="user:ops", timestamp=T0)


def curated() -> RetrainCampaign:
    campaign = opened()
    campaign.record_dataset(dataset_id="d" * 64, included=30, train_items=24, validation_items=6, excluded={},
                            label_sources={"corrected_label": 30, "comment": 0}, awaiting_review=[], **WHO)
    return campaign


def training() -> RetrainCampaign:
    campaign = curated()
    campaign.complete_review(auto=True, dataset_id=None, **WHO)
    campaign.choose_strategy(strategy="fine_tune", reasons=[], forced=False, **WHO)
    campaign.start_training(config={}, seed=0, **WHO)
    return campaign


def validating() -> RetrainCampaign:
    campaign = training()
    campaign.record_candidate(candidate_id="c-id", candidate_label="v2", artifact_sha256="a" * 64, metrics={}, **WHO)
    return campaign


def claim(campaign: RetrainCampaign, step: str, worker: str, at: datetime = T0, **options: Any) -> None:
    campaign.claim_step(step=step, worker=worker, lease=LEASE, actor="system:worker", timestamp=at, **options)


def claimed_events(campaign: RetrainCampaign) -> list[tuple[str, str, datetime]]:
    return [(e.step, e.worker, e.expires_at) for e in campaign.collect_events()
            if isinstance(e, RetrainCampaign.StepClaimed)]


# -- the aggregate: claiming --------------------------------------------------------------------------------
def test_a_claim_is_recorded_with_its_worker_and_the_end_of_its_lease() -> None:
    campaign = opened()
    claim(campaign, "curate", ALICE)
    assert claimed_events(campaign) == [("curate", ALICE, T0 + LEASE)]
    assert campaign.claim_holder("curate", T0) == ALICE


def test_a_live_claim_refuses_another_worker_and_names_the_holder() -> None:
    campaign = opened()
    claim(campaign, "curate", ALICE)
    campaign.collect_events()
    with pytest.raises(StepAlreadyClaimed, match=f"the curate step of campaign 1 is claimed by {ALICE}"):
        claim(campaign, "curate", BOB, at=T0 + LEASE - MICROSECOND)
    assert claimed_events(campaign) == []
    assert campaign.claim_holder("curate", T0 + LEASE - MICROSECOND) == ALICE


def test_a_claim_lapses_exactly_at_the_end_of_its_lease() -> None:
    campaign = opened()
    claim(campaign, "curate", ALICE)
    assert campaign.claim_holder("curate", T0 + LEASE - MICROSECOND) == ALICE
    assert campaign.claim_holder("curate", T0 + LEASE) is None
    claim(campaign, "curate", BOB, at=T0 + LEASE)
    assert campaign.claim_holder("curate", T0 + LEASE) == BOB


def test_the_same_worker_may_claim_its_step_again_which_extends_its_lease() -> None:
    campaign = opened()
    claim(campaign, "train", ALICE)
    claim(campaign, "train", ALICE, at=T0 + timedelta(minutes=10))
    assert [e[2] for e in claimed_events(campaign)] == [T0 + LEASE, T0 + timedelta(minutes=10) + LEASE]
    assert campaign.claim_holder("train", T0 + LEASE + timedelta(minutes=5)) == ALICE


def test_a_worker_known_to_be_gone_is_replaced_before_its_lease_lapses() -> None:
    campaign = opened()
    claim(campaign, "curate", ALICE)
    claim(campaign, "curate", BOB, at=T0 + timedelta(minutes=1), holder_gone=True)
    assert campaign.claim_holder("curate", T0 + timedelta(minutes=1)) == BOB


def test_claims_are_per_step() -> None:
    campaign = opened()
    claim(campaign, "curate", ALICE)
    claim(campaign, "train", BOB)
    assert (campaign.claim_holder("curate", T0), campaign.claim_holder("train", T0)) == (ALICE, BOB)
    assert campaign.claim_holder("validate", T0) is None


def test_an_unknown_step_cannot_be_claimed() -> None:
    campaign = opened()
    campaign.collect_events()
    with pytest.raises(IllegalTransition, match="unknown campaign step 'deploy'"):
        claim(campaign, "deploy", ALICE)
    assert claimed_events(campaign) == []


@pytest.mark.parametrize("finish", ["complete", "abandon"])
def test_no_step_of_a_finished_campaign_can_be_claimed(finish: str) -> None:
    campaign = opened()
    if finish == "complete":
        campaign.complete(outcome="insufficient_data", details={}, **WHO)
    else:
        campaign.abandon(reason="not drift after all", **WHO)
    with pytest.raises(IllegalTransition, match=f"cannot claim the curate step of campaign 1: it is {campaign.state}"):
        claim(campaign, "curate", ALICE)


def test_a_failed_campaigns_training_can_be_claimed_for_a_retry() -> None:
    campaign = training()
    campaign.fail_training(error="RuntimeError: out of memory", **WHO)
    claim(campaign, "train", ALICE)
    assert campaign.claim_holder("train", T0) == ALICE


# -- the aggregate: releasing -------------------------------------------------------------------------------
def test_the_curated_dataset_releases_the_curate_claim_and_no_other() -> None:
    campaign = opened()
    claim(campaign, "curate", ALICE)
    claim(campaign, "train", BOB)
    campaign.record_dataset(dataset_id="d" * 64, included=30, train_items=24, validation_items=6, excluded={},
                            label_sources={}, awaiting_review=[], **WHO)
    assert campaign.claim_holder("curate", T0) is None
    assert campaign.claim_holder("train", T0) == BOB


def test_a_trained_candidate_releases_the_train_claim() -> None:
    campaign = training()
    claim(campaign, "train", ALICE)
    claim(campaign, "validate", BOB)
    campaign.record_candidate(candidate_id="c-id", candidate_label="v2", artifact_sha256="a" * 64, metrics={}, **WHO)
    assert campaign.claim_holder("train", T0) is None
    assert campaign.claim_holder("validate", T0) == BOB


def test_a_failed_training_releases_the_train_claim() -> None:
    campaign = training()
    claim(campaign, "train", ALICE)
    campaign.fail_training(error="RuntimeError: out of memory", **WHO)
    assert campaign.claim_holder("train", T0) is None
    claim(campaign, "train", BOB)
    assert campaign.claim_holder("train", T0) == BOB


def test_completing_a_campaign_releases_every_claim() -> None:
    campaign = validating()
    claim(campaign, "validate", ALICE)
    claim(campaign, "curate", BOB)
    campaign.complete(outcome="candidate_validated", details={"candidate": "v2"}, **WHO)
    assert campaign.claims == {}
    assert campaign.claim_holder("validate", T0) is None


def test_abandoning_a_campaign_releases_every_claim() -> None:
    campaign = training()
    claim(campaign, "train", ALICE)
    campaign.abandon(reason="the operator changed their mind", **WHO)
    assert campaign.claims == {}


def test_claims_are_rebuilt_from_the_events() -> None:
    campaign = opened()
    claim(campaign, "curate", ALICE)
    claim(campaign, "train", BOB, at=T0 + timedelta(minutes=3))
    rebuilt = None
    for recorded in campaign.collect_events():
        rebuilt = recorded.mutate(rebuilt)
    assert isinstance(rebuilt, RetrainCampaign)
    assert rebuilt.claims == {"curate": {"worker": ALICE, "expires_at": T0 + LEASE},
                              "train": {"worker": BOB, "expires_at": T0 + timedelta(minutes=3) + LEASE}}


def test_a_campaign_from_before_claims_existed_has_no_holder_and_can_be_claimed() -> None:
    campaign = opened()
    del campaign.claims  # what a snapshot taken before claims existed gives back
    assert campaign.claim_holder("curate", T0) is None
    claim(campaign, "curate", ALICE)
    assert campaign.claim_holder("curate", T0) == ALICE


# -- the application: is a holder gone? --------------------------------------------------------------------------
@pytest.fixture
def running_process() -> Iterator[subprocess.Popen[bytes]]:
    """A process of this host that is still running (ended by the fixture, by its own handle)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_this_very_process_counts_as_gone_since_it_is_not_running_that_step_now() -> None:
    assert worker_name("worker") == f"worker:{socket.gethostname()}:{os.getpid()}"
    assert worker_gone(worker_name("worker")) is True


def test_another_running_process_of_this_host_is_not_gone(running_process: subprocess.Popen[bytes]) -> None:
    assert worker_gone(f"worker:{socket.gethostname()}:{running_process.pid}") is False


def test_a_process_of_this_host_that_has_exited_is_gone() -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert worker_gone(f"worker:{socket.gethostname()}:{finished.pid}") is True


def test_a_worker_on_another_host_is_trusted_until_its_lease_lapses() -> None:
    assert worker_gone(f"worker:{socket.gethostname()}-elsewhere:{os.getpid()}") is False


def test_a_holder_without_a_pid_is_trusted_until_its_lease_lapses() -> None:
    assert worker_gone(f"worker:{socket.gethostname()}:not-a-pid") is False


# -- the application: claiming a step --------------------------------------------------------------------------
@pytest.fixture
def campaign_harness() -> Harness:
    """v1 in production and campaign 1 opened on it by hand."""
    harness = build_harness()
    harness.register()
    harness.app.campaigns.open(reason="new phone cameras in the field", actor="user:ops")
    return harness


def uncurated(campaign: RetrainCampaign) -> bool:
    return campaign.state == "open" and campaign.dataset is None


def stored_holder(harness: Harness, step: str) -> str | None:
    return harness.app.ledger.campaign("1").claim_holder(step, harness.clock.now())


def test_a_free_due_step_is_claimed_and_the_claim_is_stored(campaign_harness: Harness) -> None:
    claimed = campaign_harness.app.campaigns.claim("1", "curate", ALICE, uncurated)
    assert claimed is not None and claimed.number == 1
    assert stored_holder(campaign_harness, "curate") == ALICE
    rows = [r for r in campaign_harness.app.audit.history() if r["event"] == "StepClaimed"]
    assert [(r["actor"], r["details"]["step"], r["details"]["worker"]) for r in rows] == [
        ("system:worker", "curate", ALICE)]


def test_the_claim_lasts_the_configured_lease_of_its_step() -> None:
    harness = build_harness(worker={"lease_seconds": 60, "training_lease_seconds": 7200})
    harness.register()
    harness.app.campaigns.open(reason="by hand", actor="user:ops")
    harness.app.campaigns.claim("1", "curate", ALICE, uncurated)
    harness.app.campaigns.claim("1", "train", ALICE, lambda c: True)
    claims = harness.app.ledger.campaign("1").claims
    assert claims["curate"]["expires_at"] == T0 + timedelta(seconds=60)
    assert claims["train"]["expires_at"] == T0 + timedelta(hours=2)


def test_a_step_that_is_no_longer_due_is_not_claimed(campaign_harness: Harness) -> None:
    assert campaign_harness.app.campaigns.claim("1", "curate", ALICE, lambda c: False) is None
    assert stored_holder(campaign_harness, "curate") is None


def test_a_step_held_by_another_live_worker_is_not_claimed(campaign_harness: Harness) -> None:
    campaigns = campaign_harness.app.campaigns
    campaigns.claim("1", "curate", ALICE, uncurated)
    campaign_harness.clock.advance(LEASE - MICROSECOND)
    assert campaigns.claim("1", "curate", BOB, uncurated) is None
    assert stored_holder(campaign_harness, "curate") == ALICE


def test_a_step_whose_claim_lapsed_is_claimed_by_the_next_worker(campaign_harness: Harness) -> None:
    campaigns = campaign_harness.app.campaigns
    campaigns.claim("1", "curate", ALICE, uncurated)
    campaign_harness.clock.advance(LEASE)
    assert campaigns.claim("1", "curate", BOB, uncurated) is not None
    assert stored_holder(campaign_harness, "curate") == BOB


def test_a_step_held_by_an_exited_process_of_this_host_is_taken_over_at_once(campaign_harness: Harness) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    gone = f"worker:{socket.gethostname()}:{finished.pid}"
    campaigns = campaign_harness.app.campaigns
    campaigns.claim("1", "curate", gone, uncurated)
    assert campaigns.claim("1", "curate", BOB, uncurated) is not None
    assert stored_holder(campaign_harness, "curate") == BOB


def test_a_worker_advancing_a_campaign_leaves_a_step_another_worker_holds(campaign_harness: Harness) -> None:
    campaign_harness.app.campaigns.claim("1", "curate", ALICE, uncurated)
    campaign = campaign_harness.app.campaigns.advance("1", worker=BOB)
    assert (campaign.state, campaign.dataset) == ("open", None)
    assert [r["event"] for r in campaign_harness.app.audit.history() if r["aggregate"] == "RetrainCampaign"] == [
        "Opened", "StepClaimed"]
