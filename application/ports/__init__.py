"""The ports: what the use cases need from the outside world, as Protocols the adapters implement, one module per
kind of store or service; everything is re-exported here (`from application.ports import X`)."""

from application.ports.blobs import BlobStore, BlobStoreUnavailable
from application.ports.clock import Clock
from application.ports.feedback import (
    ConsoleFigures,
    FeedbackIntake,
    FeedbackStore,
    FeedbackWriter,
    ImageReferences,
    PredictionLog,
    ReviewQueue,
    RowEncoder,
    StoreUnavailable,
    TrafficStatistics,
    UserData,
)
from application.ports.ingestion import ParsingPool
from application.ports.models import (
    Comparison,
    DatasetCatalog,
    Evaluator,
    ImageDecodeError,
    IntakeReport,
    IntakeRequest,
    ModelIntake,
    ModelRef,
    OriginalDataset,
    Prediction,
    Predictor,
    TrainedModel,
    Trainer,
    TrainingRequest,
)
from application.ports.views import ViewDocument, ViewEvent, ViewStore

__all__ = [
    "BlobStore",
    "BlobStoreUnavailable",
    "Clock",
    "Comparison",
    "ConsoleFigures",
    "DatasetCatalog",
    "Evaluator",
    "FeedbackIntake",
    "FeedbackStore",
    "FeedbackWriter",
    "ImageDecodeError",
    "ImageReferences",
    "IntakeReport",
    "IntakeRequest",
    "ModelIntake",
    "ModelRef",
    "OriginalDataset",
    "ParsingPool",
    "Prediction",
    "PredictionLog",
    "Predictor",
    "ReviewQueue",
    "RowEncoder",
    "StoreUnavailable",
    "TrafficStatistics",
    "TrainedModel",
    "Trainer",
    "TrainingRequest",
    "UserData",
    "ViewDocument",
    "ViewEvent",
    "ViewStore",
]
