"""Trainer with torch (rule 4.5): fine-tuning with rehearsal, or full retraining; early stopping; deterministic."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import structlog
import torch
from torch import nn

from adapters.torch.datasets import DatasetLoader, TensorSplit, from_unit, to_unit
from adapters.torch.distributed import Cluster
from adapters.torch.drift_matching import MIN_IMAGES, DriftEstimate, drift_like, estimate_drift
from adapters.torch.fitting import FitResult, accuracy, fit, fit_options, pick_device, seed_everything
from adapters.torch.models import build_model, load_model, state_dict_bytes
from application.ports import BlobStore, TrainedModel, TrainingRequest

log = structlog.get_logger()


@dataclass(frozen=True)
class Prepared:
    """What one training trains and stops on, and the choices made to build it (recorded with the candidate)."""

    train: TensorSplit
    validation: TensorSplit
    curated: int
    choices: dict[str, Any]


class TorchTrainer:
    """Fine-tunes from the parent's weights with rehearsal, or retrains from scratch; stores the best weights."""

    def __init__(self, blobs: BlobStore, device: torch.device | None = None, cluster: Cluster | None = None) -> None:
        self.blobs = blobs
        self.cluster = cluster or Cluster()  # where data-parallel workers run (training.nodes > 1: several hosts)
        self.loader = DatasetLoader(blobs)
        self.device = device or pick_device()

    def data(self, request: TrainingRequest, generator: torch.Generator) -> Prepared:
        """The training and validation sets of rule 4.5, and what was chosen to build them.

        Fine-tuning trains on the curated items, a rehearsal sample of the original training set, and (unless
        `drift_matching` is off) copies of original images made to look like each drifted segment, whose camera
        transform is estimated from the segment's images (`drift_matching`). Full retraining trains on the whole
        original set, the curated items and the same drift-matched copies. Both stop on the validation loss
        balanced per image type (`balanced_validation`), so that a few dozen drifted items count as much as
        hundreds of clean ones."""
        _, classes, spec = request.target
        config = request.config
        curated_train = self.loader.split(request.dataset_id, "train", spec, classes) if request.dataset_id else None
        validation = self.loader.split(request.dataset_id, "validation", spec, classes) if request.dataset_id else None
        original = original_validation = None
        if request.original_dataset_id:
            original = self.loader.split(request.original_dataset_id, "train", spec, classes)
            original_validation = self.loader.split(request.original_dataset_id, "validation", spec, classes)
            validation = (original_validation if validation is None
                          else TensorSplit.concat(validation, original_validation))
        if validation is None or not len(validation):
            raise ValueError("no validation data to stop the training on")
        curated = len(curated_train) if curated_train is not None else 0
        choices: dict[str, Any] = {"balanced_validation": bool(config.get("balanced_validation", True))}
        if request.strategy != "full" and curated_train is None:
            raise ValueError("fine-tuning needs a curated dataset")
        rehearsal = None
        if original is not None and curated:
            # a handful of curated items still gets rehearsal_min original ones: fewer let the model forget
            size = min(max(curated * int(config.get("rehearsal_ratio", 1)), int(config.get("rehearsal_min", 0))),
                       int(config.get("rehearsal_max", 5000)), len(original))
            chosen = torch.randperm(len(original), generator=generator)[:size].tolist()
            rehearsal = original.subset(sorted(chosen)) if size else None
        matched: list[TensorSplit] = []
        if bool(config.get("drift_matching", True)) and original is not None and curated_train is not None \
                and rehearsal is not None:
            unlabelled = self.loader.unlabelled(request.dataset_id, spec) if request.dataset_id else {}
            estimates = self.drift_estimates(curated_train, unlabelled, original, spec, seed=request.seed)
            choices["drift_estimates"] = [estimate.record() for estimate in estimates]
            drifted = [e for e in estimates if e.is_drift]
            for estimate in drifted:
                pixels = drift_like(to_unit(rehearsal.x, spec), estimate, generator)
                matched.append(TensorSplit(from_unit(pixels, spec), rehearsal.y.clone(),
                                           [estimate.segment] * len(rehearsal)))
            # The segment's own validation items are often a handful: drift-matched copies of the original
            # validation set join them (the same type, so the drift weighs as much as the clean images, not
            # twice as much), and the balanced loss sees the drift steadily.
            if original_validation is not None and len(original_validation):
                pixels = to_unit(original_validation.x, spec)
                copies = [TensorSplit(from_unit(drift_like(pixels, estimate, generator), spec),
                                      original_validation.y.clone(), [estimate.segment] * len(original_validation))
                          for estimate in drifted]
                validation = TensorSplit.concat(validation, *copies)
                choices["drift_matched_validation_items"] = sum(len(copy) for copy in copies)
        choices["drift_matched_items"] = sum(len(part) for part in matched)
        if request.strategy == "full":
            parts = [p for p in (original, curated_train, *matched) if p is not None]
            choices["rehearsal_items"] = len(original) if original is not None else 0
        else:
            assert curated_train is not None
            parts = [curated_train, *([rehearsal] if rehearsal is not None else []), *matched]
            choices["rehearsal_items"] = len(rehearsal) if rehearsal is not None else 0
        return Prepared(TensorSplit.concat(*parts), validation, curated, choices)

    def drift_estimates(self, curated: TensorSplit, unlabelled: dict[str, torch.Tensor], original: TensorSplit,
                        spec: dict[str, Any], *, seed: int) -> list[DriftEstimate]:
        """Per image type of the curated items (with the type's consented unlabelled images): how its images differ
        from the original training images."""
        reference = to_unit(original.x, spec)
        estimates = []
        for segment in sorted(set(curated.image_types) | set(unlabelled)):
            indices = [i for i, t in enumerate(curated.image_types) if t == segment]
            images = [to_unit(curated.x[indices], spec)] if indices else []
            if segment in unlabelled:
                images.append(to_unit(unlabelled[segment], spec))
            pixels = torch.cat(images)
            if len(pixels) >= MIN_IMAGES:
                estimates.append(estimate_drift(segment, reference, pixels, seed=seed))
        return estimates

    def fit(self, request: TrainingRequest, model: nn.Module, train: TensorSplit, validation: TensorSplit,
            generator: torch.Generator, *, label: str) -> FitResult:
        """In this process, or data-parallel over `world_size` processes launched by torchrun."""
        config = request.config
        world_size = int(config.get("world_size", 1))
        if world_size > 1:
            from adapters.torch.distributed import fit_distributed

            architecture, classes, _ = request.target
            result = fit_distributed(model, train, validation, architecture=architecture, num_classes=len(classes),
                                     architecture_options=request.architecture_options, config=config,
                                     seed=request.seed, world_size=world_size, label=label,
                                     cluster=self.cluster)
            result.model.to(self.device)
            return result
        return fit(model, train, validation, batch_size=int(config.get("batch_size", 64)), generator=generator,
                   device=self.device, label=label, **fit_options(config))

    def train(self, request: TrainingRequest) -> TrainedModel:
        """Each learning rate of `learning_rates` (else `learning_rate`) tried from the same start and seed; the one
        with the lowest (balanced) validation loss is kept, and the choice recorded."""
        generator = seed_everything(request.seed)
        parent = request.parent
        architecture, classes, spec = request.target
        prepared = self.data(request, generator)
        train, validation, curated = prepared.train, prepared.validation, prepared.curated
        source = f"from {parent.label}" if parent else "from scratch"
        config = dict(request.config)
        if request.strategy != "full" and curated < int(config.get("small_set_items", 0)):
            config["max_epochs"] = int(config.get("small_set_max_epochs", config["max_epochs"]))
            prepared.choices["max_epochs"] = config["max_epochs"]
        request = replace(request, config=config)
        rates = [float(rate) for rate in request.config.get("learning_rates") or [request.config["learning_rate"]]]
        tried: dict[str, float] = {}
        result = None
        for rate in rates:
            if request.strategy == "full" or parent is None:
                model = build_model(architecture, len(classes), request.architecture_options)
            else:
                model = load_model(self.blobs.get(parent.artifact_sha256), architecture, len(classes),
                                   request.architecture_options)
            attempt = self.fit(replace(request, config={**request.config, "learning_rate": rate}), model, train,
                               validation, seed_everything(request.seed),
                               label=f"{request.strategy} {source} lr {rate:g}")
            tried[f"{rate:g}"] = round(attempt.best_validation_loss, 6)
            if result is None or attempt.best_validation_loss < result[1].best_validation_loss:
                result = (rate, attempt)
        assert result is not None
        chosen_rate, result = result
        if len(rates) > 1:
            prepared.choices.update(learning_rate=chosen_rate, learning_rates_tried=tried)
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
            if len(test):  # no figure over 0 items: an original dataset without a test split has no test accuracy
                metrics["test_accuracy"] = round(accuracy(result.model, test, self.device), 6)
            metrics["test_items"] = len(test)
            metrics["original_train_items"] = len(
                self.loader.split(request.original_dataset_id, "train", spec, classes))
        log.info("trained", strategy=request.strategy, source=source, **metrics)
        return TrainedModel(artifact, metrics, architecture, spec, classes, prepared.choices)
