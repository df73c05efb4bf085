"""The strategy and training features again, with TorchTrainer, TorchEvaluator and TorchPredictor on small digits.

v1 is a real digits-cnn, trained once per session for 2 epochs on a few hundred of the bundled digits, whose
original dataset (train, validation and test splits) is in the blob store; campaigns really fine-tune or retrain
it and the candidate is really measured side by side with it. The validation feature is not run here: its
examples dictate the figures the evaluator measures, which real models do not obey; the training feature's
judgement scenario checks the verdict follows the gates on the figures TorchEvaluator measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from pytest_bdd import scenario, scenarios

from adapters.system_clock import SimulatedClock
from adapters.torch_evaluator import TorchEvaluator
from adapters.torch_models import DIGITS_CNN, default_input_spec
from adapters.torch_predictor import TorchPredictor
from adapters.torch_trainer import TorchTrainer
from application.ledger import Ledger
from application.ports import TrainedModel, TrainingRequest
from application.retrain import Retrain
from application.settings import Settings
from domain.model_version import ModelVersion
from tests.fakes import InMemoryBlobStore, InMemoryFeedbackStore
from tests.harness import T0, Harness
from tests.torch_support import DIGIT_CLASSES, first_request, one_torch_thread, small_digits

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)


class ObservedTorchTrainer(TorchTrainer):
    """TorchTrainer, keeping the requests it gets; `failure` stands for what a CPU cannot produce (CUDA OOM)."""

    def __init__(self, blobs: InMemoryBlobStore) -> None:
        super().__init__(blobs, device=CPU)
        self.requests: list[TrainingRequest] = []
        self.failure: str | None = None

    def train(self, request: TrainingRequest) -> TrainedModel:
        self.requests.append(request)
        if self.failure:
            raise RuntimeError(self.failure)
        return super().train(request)


@dataclass(frozen=True)
class TrainedV1:
    """The blobs of a real v1: its weights and its original dataset manifest."""

    blobs: dict[str, bytes]
    weights_sha256: str
    dataset_id: str


@pytest.fixture(scope="session")
def trained_v1() -> TrainedV1:
    blobs = InMemoryBlobStore()
    dataset_id = small_digits(blobs)
    trained = TorchTrainer(blobs, device=CPU).train(first_request(dataset_id))
    return TrainedV1(dict(blobs.blobs), trained.artifact_sha256, dataset_id)


@dataclass
class TorchHarness(Harness):
    v1: TrainedV1 | None = field(default=None)

    def register(self, *, production: bool = True, baseline_ms: float | None = 10.0,
                 train_items: int = 1000, classes: list[str] | None = None) -> ModelVersion:
        """The real v1 (its original dataset recorded as `retrain init` does); `train_items` feeds rule 4.4."""
        assert self.v1 is not None and classes in (None, DIGIT_CLASSES)
        return self.app.models.register(
            weights=self.blobs.get(self.v1.weights_sha256), architecture=DIGITS_CNN, classes=list(DIGIT_CLASSES),
            input_spec=default_input_spec(DIGITS_CNN), baseline_ms=baseline_ms, production=production,
            actor="user:test", training={"dataset_id": self.v1.dataset_id, "strategy": "full", "seed": 0,
                                         "config": {"original_dataset_id": self.v1.dataset_id},
                                         "metrics": {"train_items": train_items}},
        )


@pytest.fixture
def harness(trained_v1: TrainedV1) -> Harness:
    clock, feedback, blobs = SimulatedClock(T0), InMemoryFeedbackStore(), InMemoryBlobStore()
    blobs.blobs.update(trained_v1.blobs)
    trainer = ObservedTorchTrainer(blobs)
    evaluator, predictor = TorchEvaluator(blobs, latency_calls=50, device=CPU), TorchPredictor(blobs, device="cpu")
    app = Retrain(settings=Settings(), ledger=Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
                  feedback=feedback, blobs=blobs, trainer=trainer, evaluator=evaluator, predictor=predictor,
                  clock=clock)
    return TorchHarness(app, clock, feedback, blobs, trainer, evaluator, predictor, v1=trained_v1)  # type: ignore[arg-type]


scenarios("training.feature")

# Every strategy scenario but the fine-tune streak: its given step registers v2..v5 with placeholder bytes for
# weights, which a real predictor refuses (as it should).
STRATEGY = (
    "Satisfaction observed at <observed>",
    'The "phone" images satisfied at <observed> while the overall rate is fine',
    "The reason names the breach and its observed rate",
    "<curated> curated items against an original training set of <original>",
    "Forcing fine-tuning despite a major drift",
    "The forced strategy is the one trained once the review is done",
    "Forcing a strategy that does not exist is refused",
    "A campaign trains its candidate",
    "The trainer fails",
    "A failed campaign waits for an operator rather than retrying by itself",
    "An operator retries a failed training",
    "A campaign left training by a killed process can be retried",
    "A campaign that has not failed cannot be retried",
)


def _strategy_scenario(name: str) -> Any:
    @scenario("strategy.feature", name)
    def run() -> None:
        """A strategy scenario on the torch adapters."""

    return run


for _number, _name in enumerate(STRATEGY):
    globals()[f"test_strategy_{_number:02d}"] = _strategy_scenario(_name)
