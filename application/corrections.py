"""Correcting records (`retrain ingest --replace`): a stored prediction may be re-written only while no curated
dataset uses it, since a dataset keeps the label and image its answer gave then (SPEC 5.1)."""

from __future__ import annotations

import json
from typing import Any

from application.ledger import Ledger
from application.ports import BlobStore
from domain.rules.curation import item_reference


class DatasetUse:
    """Which curated dataset lists a prediction: every campaign's curated and reviewed manifests, read once, on the
    first replacement an ingest asks about (the common ingest never reads them)."""

    def __init__(self, *, ledger: Ledger, blobs: BlobStore) -> None:
        self.ledger = ledger
        self.blobs = blobs
        self._by_item: dict[str, str] | None = None  # item reference (or a former manifest's prediction id) -> name

    def dataset_using(self, prediction_id: str) -> str | None:
        """The dataset that lists this prediction, as a person finds it ("campaign 3's dataset 3f2a9c0e11b2")."""
        if self._by_item is None:
            self._by_item = self._read()
        return self._by_item.get(item_reference(prediction_id)) or self._by_item.get(f"id:{prediction_id}")

    def _read(self) -> dict[str, str]:
        """Labelled items and the unlabelled images that ride along, of every campaign's datasets, whatever became
        of the campaign (abandoned, or ended with too few items): a dataset keeps what the answers said then."""
        found: dict[str, str] = {}
        for campaign in self.ledger.campaigns():
            dataset = campaign.dataset or {}
            for dataset_id in (dataset.get("dataset_id"), dataset.get("final_id")):
                if not dataset_id or not self.blobs.has(dataset_id):
                    continue
                name = f"campaign {campaign.number}'s dataset {dataset_id[:12]}"
                for entry in _entries(json.loads(self.blobs.get(dataset_id))):
                    found.setdefault(entry["item"], name)
                    if entry.get("prediction_id"):  # manifests written before they held references only
                        found.setdefault(f"id:{entry['prediction_id']}", name)
        return found


def _entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [*manifest.get("items", []), *manifest.get("unlabelled", [])]
