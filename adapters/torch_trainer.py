"""Trainer with torch (rule 4.5): fine-tuning with rehearsal, or full retraining; early stopping; deterministic."""

from __future__ import annotations

import copy
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from adapters.torch_datasets import DatasetLoader, TensorSplit
from adapters.torch_models import build_model, load_model, state_dict_bytes
from application.ports import BlobStore, TrainedModel, TrainingRequest

log = structlog.get_logger()


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Same seed, same data, same config: same weights on the same machine."""
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class FitResult:
    model: nn.Module
    best_epoch: int
    epochs_run: int
    best_validation_accuracy: float
    seconds: float
    best_validation_loss: float = 0.0


def accuracy(model: nn.Module, data: TensorSplit, device: torch.device, batch_size: int = 512) -> float:
    return score(model, data, device, batch_size)[0]


def score(model: nn.Module, data: TensorSplit, device: torch.device, batch_size: int = 512) -> tuple[float, float]:
    """Accuracy and mean cross-entropy loss of the model on the data."""
    if not len(data):
        return 0.0, 0.0
    model.eval()
    correct, total_loss = 0, 0.0
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            logits = model(data.x[start:start + batch_size].to(device)).cpu()
            targets = data.y[start:start + batch_size]
            correct += int((logits.argmax(dim=1) == targets).sum())
            total_loss += float(nn.functional.cross_entropy(logits, targets, reduction="sum"))
    return correct / len(data), total_loss / len(data)


def fit(
    model: nn.Module, train: TensorSplit, validation: TensorSplit, *, learning_rate: float, max_epochs: int,
    patience: int, batch_size: int, generator: torch.Generator, device: torch.device, label: str,
    parallel: Callable[[nn.Module], nn.Module] | None = None, sampler: Any = None,
) -> FitResult:
    """Adam on shuffled mini-batches; stop after `patience` epochs without a lower validation loss; keep the best.

    The best epoch is the one with the lowest validation loss (not the highest accuracy): on small validation sets
    accuracy moves by whole items and rewards over-confident epochs, which is what makes a fine-tune forget.

    Data-parallel workers pass `parallel` (wraps the model in DistributedDataParallel) and `sampler` (this
    process's share of each epoch); every worker scores the whole validation set, so all stop at the same epoch.
    """
    started = time.perf_counter()
    model.to(device)
    network = parallel(model) if parallel is not None else model
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    best_state, best_accuracy, best_epoch, stale, epoch = copy.deepcopy(model.state_dict()), -1.0, 0, 0, 0
    best_loss = float("inf")
    with progress(label, max_epochs) as advance:
        for epoch in range(1, max_epochs + 1):
            network.train()
            order = _epoch_order(len(train), epoch, generator, sampler)
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                optimizer.zero_grad()
                loss = loss_fn(network(train.x[batch].to(device)), train.y[batch].to(device))
                loss.backward()
                optimizer.step()
            validation_accuracy, validation_loss = score(model, validation, device)
            log.info("epoch", model=label, epoch=epoch, validation_accuracy=round(validation_accuracy, 4),
                     validation_loss=round(validation_loss, 4), loss=round(float(loss.detach()), 4))
            advance(epoch, validation_accuracy)
            if validation_loss < best_loss:
                best_state, best_accuracy, best_epoch, stale = (
                    copy.deepcopy(model.state_dict()), validation_accuracy, epoch, 0)
                best_loss = validation_loss
            else:
                stale += 1
                if stale >= patience:
                    break
    model.load_state_dict(best_state)
    return FitResult(model.eval(), best_epoch, epoch, best_accuracy, time.perf_counter() - started, best_loss)


def _epoch_order(size: int, epoch: int, generator: torch.Generator, sampler: Any) -> torch.Tensor:
    if sampler is None:
        return torch.randperm(size, generator=generator)
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler), dtype=torch.long)


class progress:
    """A Rich progress bar on a terminal; nothing extra otherwise (the epoch log lines tell the progress)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                 TimeElapsedColumn(), transient=True) if sys.stderr.isatty() else None

    def __enter__(self) -> Any:
        if self.progress is None:
            return lambda epoch, score: None
        self.progress.start()
        task = self.progress.add_task(f"training {self.label}", total=self.total, info="")
        return lambda epoch, score: self.progress.update(task, completed=epoch, info=f"val acc {score:.3f}")

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


class TorchTrainer:
    """Fine-tunes from the parent's weights with rehearsal, or retrains from scratch; stores the best weights."""

    def __init__(self, blobs: BlobStore, device: torch.device | None = None) -> None:
        self.blobs = blobs
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
        rehearsal_size = min(len(curated_train), int(request.config.get("rehearsal_max", 5000)),
                             len(original) if original is not None else 0)
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
            from adapters.torch_distributed import fit_distributed

            architecture, classes, _ = request.target
            result = fit_distributed(model, train, validation, architecture=architecture, num_classes=len(classes),
                                     config=config, seed=request.seed, world_size=world_size, label=label)
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
