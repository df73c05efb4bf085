"""Each campaign item's curation outcome, read from its curation report and the review decisions."""

from __future__ import annotations

import json
from typing import Any

from application.ports import BlobStore
from application.records import ReviewItem

ITEM_FIELDS = ("item", "prediction_id", "outcome", "reason", "label", "label_source", "split", "review")


def curation_items(report_id: str | None, blobs: BlobStore, decided: list[ReviewItem]) -> list[dict[str, Any]] | None:
    """Why each feedback item was used or left out: its curation outcome, then the reviewer's decision if any.

    None when the campaign has no curation report (not curated yet, or curated before reports existed).
    """
    if not report_id:
        return None
    decisions = {item.item: item for item in decided}
    rows = []
    for entry in json.loads(blobs.get(report_id))["items"]:
        row = {key: entry[key] for key in ITEM_FIELDS}
        decided = decisions.get(entry["item"])
        if decided is not None and decided.decision is not None:
            row["review"] = decided.decision
            row["label"] = decided.decided_label or row["label"]
        row["critical"] = list(entry["critical"])
        rows.append(row)
    return rows
