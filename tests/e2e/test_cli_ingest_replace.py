"""As a user correcting records: `--skip-invalid` wrote part of a file, the corrected file goes through with
`--replace`, and a record a curated dataset already uses is refused, naming the dataset, with nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import CLASSES, run
from tests.e2e.feedback_data import CURATED_AT, INGESTED_AT, crafted


@pytest.fixture
def home(tmp_path: Path, weights: Path) -> Path:
    home = tmp_path / "home"
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes",
                     CLASSES, "--production", "--baseline-ms", "4", "--now", "2026-02-01T00:00:00Z")
    assert registered.returncode == 0, registered.stderr
    return home


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def satisfaction(home: Path) -> float:
    monitored = run(home, "monitor", "--json", "--now", CURATED_AT)
    assert monitored.returncode == 0, monitored.stderr
    [v1] = json.loads(monitored.stdout)["versions"]
    return next(rule for rule in v1["rules"] if rule["rule"] == "satisfaction")["observed"]


def test_a_corrected_file_goes_through_with_replace_but_a_record_a_dataset_uses_is_refused(
    home: Path, tmp_path: Path
) -> None:
    records = crafted().records  # the last 100 rated: 33 satisfied (p0027 to p0059), then 67 complaints
    typo = [dict(record) for record in records]
    typo[10]["confidence"] = 1.5  # invalid: skipped
    typo[31]["predicted_label"] = "5"  # valid, but wrong: written
    partly = run(home, "ingest", str(write(tmp_path / "typo.jsonl", typo)), "--skip-invalid", "--now", INGESTED_AT)
    assert partly.returncode == 0, partly.stderr
    assert "Accepted 126 predictions and 126 feedback; 0 duplicates; 1 rejected." in partly.stdout

    fixed = write(tmp_path / "fixed.jsonl", records)
    refused = run(home, "ingest", str(fixed), "--now", INGESTED_AT)
    assert refused.returncode == 2
    assert "line 32: prediction_id: 'p0031' already exists with different content" in refused.stderr
    replaced = run(home, "ingest", str(fixed), "--replace", "--now", INGESTED_AT)
    assert replaced.returncode == 0, replaced.stderr
    assert "Accepted 1 predictions and 1 feedback; 125 duplicates; 0 rejected; 1 replaced." in replaced.stdout
    assert "Traceback" not in replaced.stderr + refused.stderr

    assert run(home, "tick", "--now", CURATED_AT).returncode == 0
    [campaign] = json.loads(run(home, "campaigns", "--json").stdout)
    dataset = campaign["dataset"]["curated_id"]
    used = records[-1]  # a label found in its comment: selected, and awaiting review
    later = [dict(records[30], user_feedback=0), dict(used, comment="label: 8"),
             dict(records[0], prediction_id="p9999")]
    correction = write(tmp_path / "later.jsonl", later)
    assert satisfaction(home) == 0.33

    atomic = run(home, "ingest", str(correction), "--replace", "--now", CURATED_AT)
    assert atomic.returncode == 2
    assert (f"line 2: prediction_id: '{used['prediction_id']}' cannot be replaced: campaign 1's dataset "
            f"{dataset[:12]} uses it") in atomic.stderr
    assert "nothing was written" in atomic.stderr and "Traceback" not in atomic.stderr
    assert satisfaction(home) == 0.33  # p0030 was not re-written

    skipped = run(home, "ingest", str(correction), "--replace", "--skip-invalid", "--json", "--now", CURATED_AT)
    assert skipped.returncode == 0, skipped.stderr
    report = json.loads(skipped.stdout)
    assert (report["accepted"], report["replaced"], report["rejected"]) == ({"predictions": 1, "feedback": 1}, 1, 1)
    assert report["errors"][0]["line"] == 2 and dataset[:12] in report["errors"][0]["reason"]
    assert satisfaction(home) == 0.32  # the window sees p0030's corrected answer
