"""Steps for training (SPEC 4.5): what the campaign asked the trainer for, and what the candidate records.

They hold for the fake trainer and for TorchTrainer (tests/integration/test_features_on_torch.py), whose
weights really load and whose figures are really measured.
"""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, then

from application.ports import TrainingRequest
from domain.retrain_campaign import RetrainCampaign
from domain.rules.paired_comparison import compare_paired
from domain.rules.validation_gates import ItemCounts, ModelFigures, judge_candidate, measurable
from tests.harness import Harness
from tests.steps.curation_steps import current

FIGURES = ("validation_accuracy", "test_accuracy", "latency_ms")


@given("the campaign's feedback has been curated", target_fixture="campaign")
def campaign_curated(harness: Harness, campaign: RetrainCampaign) -> RetrainCampaign:
    return harness.app.campaigns.curate(str(campaign.id))


def request_for(harness: Harness, candidate: str) -> TrainingRequest:
    """The request that trained `candidate` (the last one: a campaign trains its candidate last)."""
    assert harness.app.ledger.version(candidate).campaign_id is not None
    return harness.trainer.requests[-1]


@then(parsers.parse("{candidate} was trained with the {strategy} strategy from the weights of {parent} on the "
                    "campaign's dataset and {root}'s original training set"))
def trained_from(harness: Harness, campaign: RetrainCampaign, candidate: str, strategy: str, parent: str,
                 root: str) -> None:
    request, parent_version = request_for(harness, candidate), harness.app.ledger.version(parent)
    assert request.strategy == strategy == harness.app.ledger.version(candidate).strategy
    assert request.parent is not None and request.parent.artifact_sha256 == parent_version.artifact_sha256
    assert request.dataset_id == current(harness, campaign).training_dataset_id
    assert harness.blobs.has(request.dataset_id)
    assert request.original_dataset_id == harness.app.training.original_dataset_id(harness.app.ledger.version(root))


@then(parsers.parse("the training of {candidate} used a learning rate of {rate:g}, multiplied by {factor:g} after "
                    "each epoch that does not lower the validation loss, at most {epochs:d} epochs, a patience of "
                    "{patience:d} and seed {seed:d}"))
def training_config(harness: Harness, candidate: str, rate: float, factor: float, epochs: int, patience: int,
                    seed: int) -> None:
    version, request = harness.app.ledger.version(candidate), request_for(harness, candidate)
    for config in (version.training_config, request.config):
        assert (config["learning_rate"], config["plateau_factor"], config["max_epochs"], config["patience"]) == (
            rate, factor, epochs, patience)
    assert version.seed == request.seed == seed


@then(parsers.parse("the training of {candidate} kept the better of the learning rates {first:g} and {second:g}, for "
                    "at most {epochs:d} epochs or {small_epochs:d} under {small:d} curated items, with a patience of "
                    "{patience:d} and seed {seed:d}"))
def fine_tuning_config(harness: Harness, candidate: str, first: float, second: float, epochs: int, small_epochs: int,
                       small: int, patience: int, seed: int) -> None:
    version, request = harness.app.ledger.version(candidate), request_for(harness, candidate)
    asked = request.config
    assert (asked["learning_rates"], asked["max_epochs"], asked["patience"]) == ([first, second], epochs, patience)
    assert (asked["small_set_max_epochs"], asked["small_set_items"]) == (small_epochs, small)
    kept = version.training_config
    assert kept["learning_rate"] in (first, second) and kept["max_epochs"] in (epochs, small_epochs)
    if "learning_rates_tried" in kept:  # the trainer tried each from the same start: the lowest loss is kept
        tried = kept["learning_rates_tried"]
        assert (set(tried) == {f"{first:g}", f"{second:g}"} and
                tried[f"{kept['learning_rate']:g}"] == min(tried.values()))
        curated = version.training_metrics["curated_train_items"]
        assert kept["max_epochs"] == (small_epochs if curated < small else epochs)
    assert version.seed == request.seed == seed


@then(parsers.parse("the rehearsal sample of {candidate} is at most {ratio:d} times as large as its curated training "
                    "split or {least:d} items, whichever is more, and at most {limit:d} items"))
def rehearsal(harness: Harness, candidate: str, ratio: int, least: int, limit: int) -> None:
    version = harness.app.ledger.version(candidate)
    request, metrics, chosen = request_for(harness, candidate), version.training_metrics, version.training_config
    assert (request.config["rehearsal_ratio"], request.config["rehearsal_max"]) == (ratio, limit)
    assert request.config["rehearsal_min"] == least
    if "curated_train_items" in metrics:  # the fake trainer trains on nothing and reports no sizes
        curated, matched = metrics["curated_train_items"], chosen["drift_matched_items"]
        rehearsed = metrics["train_items"] - curated - matched
        assert chosen["rehearsal_items"] == rehearsed and 0 < rehearsed <= min(max(ratio * curated, least), limit)
        # besides, one drift-matched copy of each rehearsal item per image type found drifted
        drifted = [e for e in chosen.get("drift_estimates", []) if e["is_drift"]]
        assert matched == rehearsed * len(drifted)


@then(parsers.parse("the weights of {candidate} are stored by sha256 and load as the architecture and classes of "
                    "{parent}"))
def weights_load(harness: Harness, candidate: str, parent: str) -> None:
    import hashlib

    version, parent_version = harness.app.ledger.version(candidate), harness.app.ledger.version(parent)
    weights = harness.blobs.get(version.artifact_sha256)
    assert hashlib.sha256(weights).hexdigest() == version.artifact_sha256
    assert (version.architecture, version.classes, version.input_spec) == (
        parent_version.architecture, parent_version.classes, parent_version.input_spec)
    harness.predictor.check_weights(weights, version.architecture, version.input_spec, version.classes)


@then(parsers.parse("{candidate} records the epoch it kept"))
def best_epoch(harness: Harness, candidate: str) -> None:
    metrics = harness.app.ledger.version(candidate).training_metrics
    assert isinstance(metrics["best_epoch"], int) and metrics["best_epoch"] >= 1
    assert metrics["best_epoch"] <= metrics.get("epochs_run", metrics["best_epoch"])


@then(parsers.parse("{candidate} is judged against {parent} with every figure measured side by side"))
def judged(harness: Harness, campaign: RetrainCampaign, candidate: str, parent: str) -> None:
    (row,) = [row for row in harness.app.audit.history() if row["version"] == candidate
              and row["event"] in ("CandidateValidated", "CandidateRejected")]
    figures = row["details"]["figures"]
    measured = {role: ModelFigures(**{name: figures[role][name] for name in FIGURES})
                for role in ("parent", "candidate")}
    assert all(0.0 <= getattr(measured[role], name) <= 1.0 for role in measured for name in FIGURES[:2])
    assert all(measured[role].latency_ms > 0 for role in measured)
    policy, on = harness.app.settings.validation, figures["measured_on"]
    gates = judge_candidate(measured["parent"], measured["candidate"], max_test_regression=policy.max_test_regression,
                            latency_factor=policy.latency_factor,
                            items=ItemCounts(on["validation_accuracy"]["items"], on["test_accuracy"]["items"]),
                            min_items=ItemCounts(policy.min_items.validation, policy.min_items.test))
    assert all(measurable(gate) for gate in gates), gates  # every gate had its minimum of items
    failed = [gate["name"] for gate in gates if not gate["passed"]]
    assert row["event"] == ("CandidateRejected" if failed else "CandidateValidated")
    assert row["details"].get("failed_gates", []) == failed
    assert row["details"]["parent_id"] == str(harness.app.ledger.version(parent).id)
    assert current(harness, campaign).state == "completed"
    # Each figure names the datasets and the sample it was measured on: the campaign's and the lineage's original.
    measured_on, fresh = figures["measured_on"], current(harness, campaign)
    original = harness.app.training.original_dataset_id(harness.app.ledger.version(parent))
    originals = [original] if original else []
    assert measured_on["validation_accuracy"]["datasets"] == [fresh.training_dataset_id, *originals]
    assert measured_on["test_accuracy"]["datasets"] == originals
    assert measured_on["validation_accuracy"]["items"] > 0 and measured_on["latency_ms"]["calls"] > 0
    assert measured_on["test_accuracy"]["items"] > 0 or not originals
    paired_on_the_same_items(figures, {gate["name"]: gate for gate in row["details"]["gates"]})


def paired_on_the_same_items(figures: dict[str, Any], gates: dict[str, dict[str, Any]]) -> None:
    """Parent and candidate on the same items: the paired counts make both accuracies' difference, and each accuracy
    gate records the comparison the rule draws from its counts (none for latency)."""
    on, paired = figures["measured_on"], figures["paired"]
    for figure, key, gate in (("validation_accuracy", "validation", "validation_accuracy"),
                              ("test_accuracy", "test", "test_regression")):
        counts = paired.get(key)
        if not on[figure]["items"]:
            assert counts is None and gates[gate]["paired"] is None
            continue
        assert counts["n"] == on[figure]["items"]
        difference = figures["candidate"][figure] - figures["parent"][figure]
        assert abs((counts["c"] - counts["b"]) / counts["n"] - difference) < 2e-6, (counts, difference)
        expected = compare_paired(counts["n"], counts["b"], counts["c"])
        assert expected is not None
        assert gates[gate]["paired"] == expected
    per_type = paired.get("per_image_type", {})
    assert {segment: counts["n"] for segment, counts in per_type.items()} == {
        segment: f["items"] for segment, f in figures["per_image_type"].items()}
    if sum(counts["n"] for counts in per_type.values()) == on["validation_accuracy"]["items"]:  # the types part the set
        assert sum(counts["c"] - counts["b"] for counts in per_type.values()) == (
            paired["validation"]["c"] - paired["validation"]["b"])
    assert gates["latency"]["paired"] is None
