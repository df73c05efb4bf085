"""The training loop with torch: seeding, one model fitted with early stopping on validation loss, scoring, progress.

Shared by the in-process trainer and by each data-parallel worker (`adapters.torch.distributed`).
"""

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

from adapters.logs import progress_log
from adapters.torch.datasets import TensorSplit

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


def score(model: nn.Module, data: TensorSplit, device: torch.device, batch_size: int = 512, *,
          balanced: bool = False) -> tuple[float, float]:
    """Accuracy and mean cross-entropy loss of the model on the data.

    `balanced`: the loss is the mean over image types of each type's mean loss, so that a few dozen drifted items
    weigh as much as hundreds of clean ones (the accuracy stays the plain share of items right)."""
    if not len(data):
        return 0.0, 0.0
    model.eval()
    correct, losses = 0, []
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            logits = model(data.x[start:start + batch_size].to(device)).cpu()
            targets = data.y[start:start + batch_size]
            correct += int((logits.argmax(dim=1) == targets).sum())
            losses.append(nn.functional.cross_entropy(logits.float(), targets, reduction="none"))
    per_item = torch.cat(losses)
    if not balanced:
        return correct / len(data), float(per_item.mean())
    groups: dict[str, list[int]] = {}
    for index, image_type in enumerate(data.image_types):
        groups.setdefault(image_type, []).append(index)
    return correct / len(data), float(torch.stack([per_item[indices].mean() for indices in groups.values()]).mean())


def fit(
    model: nn.Module, train: TensorSplit, validation: TensorSplit, *, learning_rate: float, max_epochs: int,
    patience: int, batch_size: int, generator: torch.Generator, device: torch.device, label: str,
    parallel: Callable[[nn.Module], nn.Module] | None = None, sampler: Any = None, balanced: bool = False,
    plateau_factor: float | None = None,
) -> FitResult:
    """Adam on shuffled mini-batches; stop after `patience` epochs without a lower validation loss; keep the best.

    The best epoch is the one with the lowest validation loss (not the highest accuracy): on small validation sets
    accuracy moves by whole items and rewards over-confident epochs, which is what makes a fine-tune forget.

    Data-parallel workers pass `parallel` (wraps the model in DistributedDataParallel) and `sampler` (this
    process's share of each epoch); every worker scores the whole validation set, so all stop at the same epoch.
    `balanced` stops on the validation loss balanced per image type (see `score`). `plateau_factor` multiplies the
    learning rate after each epoch that did not lower the validation loss (torch's ReduceLROnPlateau, patience 0),
    so the epochs that patience still allows take smaller steps instead of repeating the one that failed.
    """
    started = time.perf_counter()
    model.to(device)
    network = parallel(model) if parallel is not None else model
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    scheduler = (torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=plateau_factor, patience=0,
                                                              threshold=0)
                 if plateau_factor else None)
    loss_fn = nn.CrossEntropyLoss()
    best_state, best_accuracy, best_epoch, stale, epoch = copy.deepcopy(model.state_dict()), -1.0, 0, 0, 0
    best_loss = float("inf")
    lines = progress_log()
    with progress(label, max_epochs) as advance:
        for epoch in range(1, max_epochs + 1):
            epoch_started = time.perf_counter()
            network.train()
            order = _epoch_order(len(train), epoch, generator, sampler)
            total_loss, seen = 0.0, 0
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                optimizer.zero_grad()
                loss = loss_fn(network(train.x[batch].to(device)), train.y[batch].to(device))
                loss.backward()
                optimizer.step()
                total_loss, seen = total_loss + float(loss.detach()) * len(batch), seen + len(batch)
            validation_accuracy, validation_loss = score(model, validation, device, balanced=balanced)
            lines.info("epoch", model=label, epoch=epoch, of=max_epochs, learning_rate=optimizer.param_groups[0]["lr"],
                       loss=round(total_loss / max(seen, 1), 4),
                       validation_loss=round(validation_loss, 4), validation_accuracy=round(validation_accuracy, 4),
                       seconds=round(time.perf_counter() - epoch_started, 2))
            advance(epoch, validation_accuracy)
            if scheduler is not None:
                scheduler.step(validation_loss)
            if validation_loss < best_loss:
                best_state, best_accuracy, best_epoch, stale = (
                    copy.deepcopy(model.state_dict()), validation_accuracy, epoch, 0)
                best_loss = validation_loss
            else:
                stale += 1
                if stale >= patience:
                    break
    if epoch == max_epochs and best_epoch == max_epochs:
        lines.warning("epoch_cap_reached_while_improving", model=label, epochs=max_epochs,
                      validation_loss=round(best_loss, 4),
                      advice="the last epoch was still the best: more epochs (training.*_max_epochs or --epochs) "
                             "may do better")
    model.load_state_dict(best_state)
    return FitResult(model.eval(), best_epoch, epoch, best_accuracy, time.perf_counter() - started, best_loss)


def fit_options(config: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `fit` that a training config sets (what the candidate's events record)."""
    factor = config.get("plateau_factor")
    return {"learning_rate": float(config["learning_rate"]), "max_epochs": int(config["max_epochs"]),
            "patience": int(config["patience"]), "balanced": bool(config.get("balanced_validation", True)),
            "plateau_factor": float(factor) if factor else None}


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
