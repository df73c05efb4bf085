"""A retrain campaign's dataset (rule 4.3, SPEC 7): recorded once curated, re-written without an erased user's items
as long as no training has used it, and what training uses of it (the reviewed dataset when the review changed it,
less the items a reviewer rejected). RetrainCampaign's commands and questions about its dataset; the campaign records
it with its DatasetCurated and DatasetAmended events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Unpack

from domain.errors import IllegalTransition
from domain.payloads import CuratedDataset, DatasetAmendment


class CampaignDataset:
    """The dataset of a campaign (RetrainCampaign)."""

    # what the campaign provides: its number, its state, its guard and its DatasetCurated and DatasetAmended events
    number: int
    dataset: dict[str, Any] | None
    review_decisions: dict[str, dict[str, Any]]
    attempts: int
    candidate: dict[str, Any] | None
    _require: Callable[..., None]
    _dataset_curated: Callable[..., None]
    _dataset_amended: Callable[..., None]

    @property
    def training_dataset_id(self) -> str | None:
        """The dataset training uses: the reviewed one when review changed it, else the curated one."""
        return self.dataset.get("final_id") or self.dataset["dataset_id"] if self.dataset else None

    @property
    def curated_items(self) -> int:
        """Items of the dataset training will use: the curated ones less those a reviewer rejected."""
        if self.dataset is None:
            return 0
        rejected = sum(1 for d in self.review_decisions.values() if d["decision"] == "rejected")
        return int(self.dataset["included"]) - rejected

    def record_dataset(self, *, actor: str, timestamp: datetime, **dataset: Unpack[CuratedDataset]) -> None:
        """Rule 4.3: the dataset curation made, once."""
        self._require("open", action="curate")
        if self.dataset is not None:
            raise IllegalTransition(f"campaign {self.number} already has a curated dataset")
        self._dataset_curated(actor=actor, timestamp=timestamp, **dataset)

    @property
    def dataset_consumed(self) -> bool:
        """Training has started on the dataset: from then on it is what a model learnt from, never re-written."""
        return self.attempts > 0 or self.candidate is not None

    def amend_dataset(self, *, actor: str, timestamp: datetime, **amendment: Unpack[DatasetAmendment]) -> None:
        """SPEC 7: the datasets re-written without an erased user's items; a consumed dataset stays as it was."""
        if self.dataset is None:
            raise IllegalTransition(f"campaign {self.number} has no dataset to amend")
        if (amendment["dataset_id"] or amendment["final_id"]) and self.dataset_consumed:
            raise IllegalTransition(f"campaign {self.number}'s dataset was already used for training")
        self._dataset_amended(actor=actor, timestamp=timestamp, **amendment)
