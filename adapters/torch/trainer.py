"""Trainer with torch (rule 4.5): fine-tuning with rehearsal, or full retraining; early stopping; deterministic."""

from __future__ import annotations

import structlog
import torch
from torch import nn

from adapters.torch.datasets import DatasetLoader, TensorSplit
from adapters.torch.distributed import Cluster
from adapters.torch.fitting import FitResult, accuracy, fit, pick_device, seed_everything
from adapters.torch.models import build_model, load_model, state_dict_bytes
from application.ports import BlobStore, TrainedModel, TrainingRequest

log = structlog.get_logger()


class TorchTrainer:
    """Fine-tunes from the parent's weights with rehearsal, or retrains from scratch; stores the best weights."""

    def __init__(self, blobs: BlobStore, device: torch.device | None = None, cluster: Cluster | None = None) -> None:
        self.blobs = blobs
        self.cluster = cluster or Cluster()  # where data-parallel workers run (training.nodes > 1: several hosts)
        self.loader = DatasetLoader(blobs)
        self.device = device or pick_device()

    def data(self, request: TrainingRequest, generator: torch.Generator) -> tuple[TensorSplit, TensorSplit, int]:
        _, classes, spec = request.target
        curated_train = self.loader.split(request.dataset_id, "train", spec, classes) if request.dataset_id else None
        validation = self.loader.split(request.dataset_id, "validation", spec, classes) if request.dataset_id else None
        original = None
        if request.original_dataset_id:
            original = self.loader.split(request.original_dataset_id, "train", spec, classes)
            original_validation = self.loader.split(request.original_dataset_id, "validation", spec, classes)
            validation = original_validation if validation is None else TensorSplit.concat(validation, original_validation)
        if validation is None or not len(validation):
            raise ValueError("no validation data to stop the training on")
        if request.strategy == "full":
            train = TensorSplit.concat(*(p for p in (original, curated_train) if p is not None))
            return train, validation, len(curated_train) if curated_train is not None else 0
        if curated_train is None:
            raise ValueError("fine-tuning needs a curated dataset")
        rehearsal_size = min(len(curated_train) * int(request.config.get("rehearsal_ratio", 1)),
                             int(request.config.get("rehearsal_max", 5000)), len(original) if original is not None else 0)
        parts = [curated_train]
        if original is not None and rehearsal_size:
            chosen = torch.randperm(len(original), generator=generator)[:rehearsal_size].tolist()
            parts.append(original.subset(sorted(chosen)))
        return TensorSplit.concat(*parts), validation, len(curated_train)

    def fit(self, request: TrainingRequest, model: nn.Module, train: TensorSplit, validation: TensorSplit,
            generator: torch.Generator, *, label: str) -> FitResult:
        """In this process, or data-parallel over `world_size` processes launched by torchrun."""
        config = request.config
        world_size = int(config.get("world_size", 1))
        if world_size > 1:
            from adapters.torch.distributed import fit_distributed

            architecture, classes, _ = request.target
            result = fit_distributed(model, train, validation, architecture=architecture, num_classes=len(classes),
                                     config=config, seed=request.seed, world_size=world_size, label=label,
                                     cluster=self.cluster)
            result.model.to(self.device)
            return result
        return fit(
            model, train, validation, learning_rate=float(config["learning_rate"]),
            max_epochs=int(config["max_epochs"]), patience=int(config["patience"]),
            batch_size=int(config.get("batch_size", 64)), generator=generator, device=self.device, label=label,
        )

    def train(self, request: TrainingRequest) -> TrainedModel:
        generator = seed_everything(request.seed)
        parent = request.parent
        architecture, classes, spec = request.target
        train, validation, curated = self.data(request, generator)
        if request.strategy == "full" or parent is None:
            model = build_model(architecture, len(classes))
        else:
            model = load_model(self.blobs.get(parent.artifact_sha256), architecture, len(classes))
        source = f"from {parent.label}" if parent else "from scratch"
        result = self.fit(request, model, train, validation, generator, label=f"{request.strategy} {source}")
        artifact = self.blobs.put(state_dict_bytes(result.model))
        metrics = {
            "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
            "validation_accuracy": round(result.best_validation_accuracy, 6),
            "validation_loss": round(result.best_validation_loss, 6), "train_items": len(train),
            "curated_train_items": curated, "seconds": round(result.seconds, 3), "device": self.device.type,
            "world_size": int(request.config.get("world_size", 1)),
        }
        if request.original_dataset_id:
            test = self.loader.split(request.original_dataset_id, "test", spec, classes)
            metrics["test_accuracy"] = round(accuracy(result.model, test, self.device), 6)
            metrics["original_train_items"] = len(self.loader.split(request.original_dataset_id, "train", spec, classes))
        log.info("trained", strategy=request.strategy, source=source, **metrics)
        return TrainedModel(artifact, metrics, architecture, spec, classes)
