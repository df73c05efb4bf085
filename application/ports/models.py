"""The model ports: training, evaluation, prediction and a team model's intake, with the records they exchange
(rules 4.5 and 4.6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.payloads import PairedItems
from domain.rules.validation_gates import ModelFigures


class ImageDecodeError(Exception):
    """An image is missing, does not decode, is constant, or cannot become the model's input."""


@dataclass(frozen=True)
class ModelRef:
    """What an adapter needs to load a version's model."""

    version_id: str
    label: str
    architecture: str
    input_spec: dict[str, Any]
    classes: list[str]
    artifact_sha256: str
    architecture_options: dict[str, Any] = field(default_factory=dict)  # a team architecture's kwargs and path


@dataclass(frozen=True)
class TrainingRequest:
    """Rule 4.5: what to train from (the parent), on what (curated + original data), how, with which seed."""

    strategy: str
    parent: ModelRef | None
    dataset_id: str | None
    config: dict[str, Any]
    seed: int
    original_dataset_id: str | None = None
    architecture: str = ""
    classes: list[str] = field(default_factory=list)
    input_spec: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def first_model(cls, *, architecture: str, classes: list[str], input_spec: dict[str, Any],
                    original_dataset_id: str, config: dict[str, Any], seed: int) -> TrainingRequest:
        """A model trained from scratch on an original dataset only (`retrain init`)."""
        return cls("full", None, None, config, seed, original_dataset_id, architecture, list(classes), dict(input_spec))

    @property
    def target(self) -> tuple[str, list[str], dict[str, Any]]:
        """Architecture, classes and input spec of the model to produce."""
        if self.parent is not None:
            return self.parent.architecture, list(self.parent.classes), dict(self.parent.input_spec)
        return self.architecture, list(self.classes), dict(self.input_spec)

    @property
    def architecture_options(self) -> dict[str, Any]:
        return dict(self.parent.architecture_options) if self.parent is not None else {}


@dataclass(frozen=True)
class TrainedModel:
    artifact_sha256: str
    metrics: dict[str, Any]
    architecture: str
    input_spec: dict[str, Any]
    classes: list[str]
    choices: dict[str, Any] = field(default_factory=dict)  # what the trainer chose from the data (recorded)


@dataclass(frozen=True)
class Comparison:
    """Parent and candidate measured side by side in one run (rule 4.6)."""

    parent: ModelFigures
    candidate: ModelFigures
    per_image_type: dict[str, dict[str, float]] = field(default_factory=dict)
    measured_on: dict[str, dict[str, Any]] = field(default_factory=dict)  # per figure: the datasets and sample size
    paired: PairedItems = field(default_factory=lambda: PairedItems())  # both models' right and wrong on the same items


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    inference_ms: float


@dataclass(frozen=True)
class OriginalDataset:
    """A dataset a first model is trained on, stored as a manifest; its splits are fixed by the manifest."""

    dataset_id: str
    classes: list[str]
    architecture: str
    input_spec: dict[str, Any]
    sizes: dict[str, int]


@dataclass(frozen=True)
class IntakeRequest:
    """A team's model coming in: its weights file as given, its architecture, classes, what it said of its input
    (a partial spec, or None) and its stored original dataset, if any."""

    weights: bytes
    architecture: str
    architecture_options: dict[str, Any]
    classes: list[str]
    input_spec: dict[str, Any] | None
    dataset: OriginalDataset | None


@dataclass(frozen=True)
class IntakeReport:
    """The state dict to store, the settled input spec, what was done to get them, and accuracy per split."""

    artifact: bytes
    input_spec: dict[str, Any]
    notes: list[str]
    measured: dict[str, dict[str, Any]]


class ModelIntake(Protocol):
    """Reads a team's weights file, settles the input spec, and measures the model on its datasets."""

    def check_weights(self, weights: bytes, architecture: str, architecture_options: dict[str, Any],
                      classes: list[str]) -> None:
        """ValueError in one sentence unless the file holds weights that load strictly into the architecture: checked
        before any dataset is copied."""
        ...

    def admit(self, request: IntakeRequest) -> IntakeReport:
        """ValueError in one sentence when the file, the architecture, the spec or the outputs do not fit."""
        ...


class DatasetCatalog(Protocol):
    """Stores an original dataset (the bundled digits, or an ImageFolder directory) as a manifest."""

    def attach(self, sources: dict[str, str], classes: list[str]) -> OriginalDataset:
        """A team's own splits (train, validation, test: ImageFolder directories or path,label manifests) stored as
        one original dataset; its input spec holds the images' mode and most common size. ValueError in one
        sentence when a source cannot be read or its labels are not `classes`."""
        ...

    def original(self, source: str, *, seed: int, architecture: str | None = None,
                 input_size: tuple[int, int] | None = None, channels: int | None = None) -> OriginalDataset:
        """Sizes the model's input to the source's images (unless `input_size`, as (height, width), or `channels`
        say otherwise) and checks that `architecture` (None: the catalog's choice) can take them, before storing
        anything; raises ValueError with one sentence when it cannot."""
        ...


class Trainer(Protocol):
    """Fine-tunes or retrains a model on a curated dataset; returns the stored artifact."""

    def train(self, request: TrainingRequest) -> TrainedModel: ...


class Evaluator(Protocol):
    """Measures parent and candidate side by side on the same data and machine."""

    def compare(
        self, parent: ModelRef, candidate: ModelRef, dataset_id: str, original_dataset_id: str | None = None
    ) -> Comparison: ...


class Predictor(Protocol):
    """Loads a version's model and classifies images; checks images and weight files against a model."""

    def predict(self, model: ModelRef, images: Sequence[bytes]) -> list[Prediction]: ...

    def check_image(self, image: bytes, input_spec: dict[str, Any]) -> None: ...

    def check_weights(self, artifact: bytes, architecture: str, input_spec: dict[str, Any], classes: list[str],
                      architecture_options: dict[str, Any] | None = None) -> None: ...
