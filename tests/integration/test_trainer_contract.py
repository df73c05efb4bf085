"""The Trainer port's contract, kept by the fake trainer and by TorchTrainer (tiny digits, 2 epochs on the CPU)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
import torch

from adapters.torch.datasets import digits_manifest
from adapters.torch.models import DIGITS_CNN, build_model, load_model, state_dict_bytes
from adapters.torch.predictor import TorchPredictor
from adapters.torch.trainer import TorchTrainer
from application.ports import Trainer, TrainingRequest
from tests.fakes import FakePredictor, FakeTrainer, InMemoryBlobStore
from tests.harness import build_harness
from tests.steps.curation_steps import Images, labelled_answers
from tests.torch_support import (
    DIGIT_CLASSES,
    FAST,
    curated_digits,
    first_request,
    one_torch_thread,
    parent_ref,
    small_digits,
)

pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)


@dataclass
class Subject:
    trainer: Trainer
    blobs: InMemoryBlobStore
    check_weights: Callable[[bytes], None]
    fine_tune: TrainingRequest
    make_fail: Callable[[TrainingRequest], TrainingRequest]


def fine_tune_request(blobs: InMemoryBlobStore, parent_weights: bytes, **config: Any) -> TrainingRequest:
    original = small_digits(blobs)
    fresh = digits_manifest(seed=0)["splits"]["test"][100:160]  # beyond the small test set: unseen digits
    curated = curated_digits(blobs, {"train": fresh[:40], "validation": fresh[40:]})
    return TrainingRequest("fine_tune", parent_ref(blobs.put(parent_weights)), curated,
                           {**FAST, "learning_rate": 1e-4, "rehearsal_max": 5000, **config}, 0, original)


def fake_subject() -> Subject:
    blobs = InMemoryBlobStore()
    trainer = FakeTrainer(blobs)

    def make_fail(request: TrainingRequest) -> TrainingRequest:
        trainer.failure = "the fake was told to fail"
        return request

    predictor = FakePredictor()
    return Subject(trainer, blobs, lambda data: predictor.check_weights(data, DIGITS_CNN, {}, DIGIT_CLASSES),
                   fine_tune_request(blobs, b"fake parent weights"), make_fail)


def torch_subject() -> Subject:
    blobs = InMemoryBlobStore()
    torch.manual_seed(123)  # a parent unlike the fresh initialisation a full retraining draws from seed 0
    predictor = TorchPredictor(blobs, device="cpu")
    return Subject(
        TorchTrainer(blobs, device=torch.device("cpu")), blobs,
        lambda data: predictor.check_weights(data, DIGITS_CNN, {}, DIGIT_CLASSES),
        fine_tune_request(blobs, state_dict_bytes(build_model(DIGITS_CNN, 10))),
        lambda request: replace(request, dataset_id=hashlib.sha256(b"a dataset never stored").hexdigest()),
    )


@pytest.fixture(params=["fake", "torch"])
def subject(request: pytest.FixtureRequest) -> Subject:
    return fake_subject() if request.param == "fake" else torch_subject()


@pytest.mark.parametrize("strategy", ["fine_tune", "full"])
def test_training_returns_a_stored_artifact_that_loads_as_the_parents_architecture(subject: Subject,
                                                                                   strategy: str) -> None:
    request = replace(subject.fine_tune, strategy=strategy)
    trained = subject.trainer.train(request)

    assert subject.blobs.has(trained.artifact_sha256)
    subject.check_weights(subject.blobs.get(trained.artifact_sha256))
    assert (trained.architecture, trained.classes, trained.input_spec) == (
        request.parent.architecture, request.parent.classes, request.parent.input_spec)
    assert isinstance(trained.metrics["best_epoch"], int) and trained.metrics["best_epoch"] >= 1
    assert 0.0 <= trained.metrics["validation_accuracy"] <= 1.0


def test_a_training_that_cannot_run_raises(subject: Subject) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any exception: the campaign records it as TrainingFailed
        subject.trainer.train(subject.make_fail(subject.fine_tune))


# -- TorchTrainer only: what the fake cannot show ------------------------------------------------------
def test_fine_tuning_starts_from_the_parents_weights() -> None:
    subject = torch_subject()
    barely_moving = replace(subject.fine_tune, config={**subject.fine_tune.config, "learning_rate": 1e-12})
    parent = load_model(subject.blobs.get(barely_moving.parent.artifact_sha256), DIGITS_CNN, 10).state_dict()

    fine_tuned = load_model(subject.blobs.get(subject.trainer.train(barely_moving).artifact_sha256), DIGITS_CNN, 10)
    retrained = load_model(subject.blobs.get(subject.trainer.train(replace(barely_moving, strategy="full"))
                                             .artifact_sha256), DIGITS_CNN, 10)

    assert all(torch.allclose(fine_tuned.state_dict()[k], parent[k], atol=1e-6) for k in parent)
    assert not all(torch.allclose(retrained.state_dict()[k], parent[k], atol=1e-3) for k in parent)


def test_the_same_dataset_config_and_seed_give_identical_weights_twice() -> None:
    blobs = InMemoryBlobStore()
    original = small_digits(blobs)
    first = TorchTrainer(blobs, device=torch.device("cpu")).train(first_request(original, seed=7))
    second = TorchTrainer(blobs, device=torch.device("cpu")).train(first_request(original, seed=7))
    other_seed = TorchTrainer(blobs, device=torch.device("cpu")).train(first_request(original, seed=8))

    assert first.artifact_sha256 == second.artifact_sha256
    assert hashlib.sha256(blobs.get(first.artifact_sha256)).hexdigest() == first.artifact_sha256
    assert other_seed.artifact_sha256 != first.artifact_sha256


def test_a_parent_whose_weights_do_not_load_is_recorded_as_training_failed() -> None:
    """The harness's v1 holds bytes that are no weights file: the campaign records why TorchTrainer failed."""
    harness = build_harness()
    harness.app.training.trainer = TorchTrainer(harness.blobs, device=torch.device("cpu"))
    harness.register(production=True, originals=False)  # the fakes' original dataset is no manifest torch reads
    labelled_answers(harness, Images(), "v1", 40, None)  # some fall in the validation split
    campaign = harness.app.campaigns.open(reason="users report mistakes", actor="user:olivia")
    campaign = harness.app.campaigns.advance(str(campaign.id))

    assert campaign.state == "failed"
    failures = [row for row in harness.app.audit.history() if row["event"] == "TrainingFailed"]
    assert failures[-1]["details"]["error"].startswith("ValueError: ")  # the class; the log has the message
