"""The strategy and training features again, with TorchTrainer, TorchEvaluator and TorchPredictor on small digits.

v1 is a real digits-cnn, trained once per session for 2 epochs on a few hundred of the bundled digits, whose
original dataset (train, validation and test splits) is in the blob store; campaigns really fine-tune or retrain
it and the candidate is really measured side by side with it. Of the validation feature, the scenario whose
figures are measured runs here (the verdict follows the three gates on what TorchEvaluator measured); its boundary
examples dictate the figures an evaluator reports, which real models do not obey, so they run with the fakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
from pytest_bdd import scenario, scenarios

from adapters.clock import SimulatedClock
from adapters.torch.evaluator import TorchEvaluator
from adapters.torch.models import DIGITS_CNN, default_input_spec
from adapters.torch.predictor import TorchPredictor
from adapters.torch.trainer import TorchTrainer
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
    dataset_id = small_digits(blobs, test=100)  # the no-regression gate needs 100 test items (validation.min_items)
    trained = TorchTrainer(blobs, device=CPU).train(first_request(dataset_id))
    return TrainedV1(dict(blobs.blobs), trained.artifact_sha256, dataset_id)


@dataclass
class TorchHarness(Harness):
    v1: TrainedV1 | None = field(default=None)

    def register(self, *, production: bool = True, baseline_ms: float | None = 10.0, train_items: int = 1000,
                 classes: list[str] | None = None, originals: bool = True) -> ModelVersion:
        """The real v1 (its original dataset recorded as `retrain init` does, unless `originals` is False: a team's
        model registered alone); `train_items` feeds rule 4.4."""
        assert self.v1 is not None and classes in (None, DIGIT_CLASSES)
        training = {"dataset_id": self.v1.dataset_id, "strategy": "full", "seed": 0,
                    "config": {"original_dataset_id": self.v1.dataset_id}} if originals else {}
        return self.app.models.register(
            weights=self.blobs.get(self.v1.weights_sha256), architecture=DIGITS_CNN, classes=list(DIGIT_CLASSES),
            input_spec=default_input_spec(DIGITS_CNN), baseline_ms=baseline_ms, production=production,
            actor="user:test", training={**training, "metrics": {"train_items": train_items}},
        )

    def original_dataset(self, sizes: dict[str, int]) -> str:
        """The real original dataset of v1 (the bundled digits, cut down), whatever sizes are asked."""
        assert self.v1 is not None
        return self.v1.dataset_id


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


scenarios("training.feature", "strategy.feature")


@scenario("validation.feature", "A fine-tuned candidate is judged with every figure")
def test_a_fine_tuned_candidate_is_judged_on_the_figures_torch_measured() -> None:
    """Rule 4.6 on real models: parent and candidate measured side by side, the verdict from the three gates."""
