"""`retrain init`: train the first model on an original dataset and make it production `v1`."""

from __future__ import annotations

from typing import Any

import structlog

from application.ledger import Ledger
from application.models import ModelRegistry
from application.ports import BlobStore, DatasetCatalog, Trainer, TrainingRequest
from application.settings import TrainingSettings
from domain.errors import IllegalTransition, InvalidInput
from domain.model_version import ModelVersion
from domain.rules.sanity import below_chance

log = structlog.get_logger()


class FirstModel:
    """Trains from scratch on the bundled digits or an ImageFolder directory, then registers v1 as production."""

    def __init__(self, *, ledger: Ledger, catalog: DatasetCatalog, trainer: Trainer, registry: ModelRegistry,
                 blobs: BlobStore, training: TrainingSettings) -> None:
        self.ledger = ledger
        self.catalog = catalog
        self.trainer = trainer
        self.registry = registry
        self.blobs = blobs
        self.training = training

    def init(self, *, source: str, epochs: int | None, seed: int | None, baseline_ms: float | None,
             actor: str, architecture: str | None = None, input_size: tuple[int, int] | None = None,
             channels: int | None = None, force: bool = False) -> ModelVersion:
        """Refused, recording nothing, when the trained model's test accuracy is below 1.5 x chance (unless
        `force`): it would go to production having learned nothing."""
        if self.ledger.versions():
            raise IllegalTransition("this home already has model versions: `retrain init` starts a fresh home")
        if epochs is not None and epochs < 1:
            raise InvalidInput("--epochs must be at least 1")
        seed = self.training.seed if seed is None else seed
        try:
            dataset = self.catalog.original(source, seed=seed, architecture=architecture, input_size=input_size,
                                            channels=channels)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        config: dict[str, Any] = {
            "learning_rate": self.training.full_learning_rate,
            "max_epochs": epochs or self.training.full_max_epochs,
            "patience": self.training.patience,
            "plateau_factor": self.training.full_plateau_factor,
            "batch_size": self.training.batch_size,
            "world_size": self.training.world_size,
            "original_dataset_id": dataset.dataset_id,
            "original_sizes": dataset.sizes,
        }
        log.info("initial_training", source=source, classes=len(dataset.classes), architecture=dataset.architecture,
                 input_mode=dataset.input_spec.get("mode"), input_size=dataset.input_spec.get("size"), **dataset.sizes)
        trained = self.trainer.train(TrainingRequest.first_model(
            architecture=dataset.architecture, classes=dataset.classes,
            input_spec=dataset.input_spec, original_dataset_id=dataset.dataset_id, config=config, seed=seed,
        ))
        test_accuracy = trained.metrics.get("test_accuracy")
        weak = below_chance(accuracy=float(test_accuracy), classes=len(trained.classes)) \
            if test_accuracy is not None else None
        if weak and not force:
            raise IllegalTransition(f"v1 was not made production: its {weak}; train for more epochs or on more "
                                    "images, or pass --force")
        if weak:
            log.warning("weak_first_model", reason=weak)
        return self.registry.register(
            weights=self.blobs.get(trained.artifact_sha256), architecture=trained.architecture,
            classes=trained.classes, input_spec=trained.input_spec, baseline_ms=baseline_ms, production=True,
            actor=actor,
            training={"dataset_id": dataset.dataset_id, "strategy": "full", "config": config, "seed": seed,
                      "metrics": {**trained.metrics, "original_train_items": dataset.sizes.get("train", 0)}},
        )
