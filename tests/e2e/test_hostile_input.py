"""Hostile input through the installed command (SPEC 7): each file of tests/corpus/, and a 50 MB line and a
decompression bomb made here, gets exit 2 and one sentence naming the line and the field, changes nothing, and
stays within bounded memory."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.cli import CLASSES, RETRAIN

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
MB = 1024  # ru_maxrss is in kilobytes


# A small launcher measures the command: Linux carries a process's peak memory across exec, so the command must be
# spawned from a small process, not from this one (torch is loaded here).
LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], dict(os.environ))
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(home: Path, *args: str) -> tuple[int, str, int]:
    """The exit code, stderr and peak resident memory (kB) of one `retrain` process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")}
    done = subprocess.run([sys.executable, "-c", LAUNCHER, str(RETRAIN), "--home", str(home), *args],
                          capture_output=True, text=True, env=env, cwd=home.parent, timeout=300)
    return done.returncode, done.stderr, int(done.stdout.strip().splitlines()[-1])


def stored(home: Path) -> tuple[int, int]:
    """Predictions in the feedback store, events in the event store."""
    with sqlite3.connect(home / "feedback.db") as feedback, sqlite3.connect(home / "events.db") as events:
        return (feedback.execute("SELECT count(*) FROM predictions").fetchone()[0],
                events.execute("SELECT count(*) FROM stored_events").fetchone()[0])


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, weights: Path) -> Path:
    home = tmp_path_factory.mktemp("hostile") / "home"
    done = subprocess.run([str(RETRAIN), "--home", str(home), "model", "register", "--weights", str(weights),
                           "--arch", "digits-cnn", "--classes", CLASSES, "--production"], capture_output=True)
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def home(registered: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(registered, copy)
    return copy


INGESTED = [
    ("malformed.jsonl", "line 2: malformed JSON"),
    ("truncated.jsonl", "line 2: malformed JSON"),
    ("wrong_types.jsonl", "line 2: inference_ms: Input should be a valid number"),
    ("nan.jsonl", "line 2: inference_ms: Input should be a finite number"),
    ("infinity.jsonl", "line 2: inference_ms: Input should be a finite number"),
    ("invalid_utf8.jsonl", "line 2: not valid UTF-8"),
    ("not_an_object.jsonl", "line 2: a record must be a JSON object"),
    ("bad_base64.jsonl", "line 2: image:"),
]


@pytest.mark.parametrize(("name", "named"), INGESTED)
def test_a_hostile_file_is_refused_naming_its_line_and_field_and_changes_nothing(home: Path, name: str,
                                                                                 named: str) -> None:
    before = stored(home)
    code, stderr, peak = run_measured(home, "ingest", str(CORPUS / name))
    assert code == 2, stderr
    assert named in stderr and "nothing was written" in stderr and "Traceback" not in stderr
    assert stored(home) == before
    assert peak < 600 * MB, f"{peak // MB} MB"


def test_a_50_mb_line_is_refused_within_bounded_memory(home: Path, tmp_path: Path) -> None:
    huge = tmp_path / "huge.jsonl"
    record = {"prediction_id": "big", "timestamp": "2026-03-01T00:00:00Z", "model_version": "v1",
              "predicted_label": "3", "inference_ms": 4, "comment": "x" * 50_000_000}
    huge.write_text(json.dumps(record) + "\n")
    before = stored(home)
    code, stderr, peak = run_measured(home, "ingest", str(huge))
    assert code == 2 and "line 1: the line is longer than 8 MB" in stderr and "Traceback" not in stderr
    assert stored(home) == before
    assert peak < 300 * MB, f"{peak // MB} MB"  # the line is read 8 MB at a time, then dropped a MB at a time


def test_a_line_cut_at_the_limit_does_not_swallow_the_next_line(home: Path, tmp_path: Path) -> None:
    lines = tmp_path / "lines.jsonl"
    record = {"prediction_id": "ok", "timestamp": "2026-03-01T00:00:00Z", "model_version": "v1", "predicted_label": "3",
              "inference_ms": 4}
    lines.write_text(json.dumps(record) + "\n" + "x" * 9_000_000 + "\n" + "{bad\n")
    code, stderr, _ = run_measured(home, "ingest", "--skip-invalid", str(lines))
    assert code == 0, stderr
    assert "line 2: the line is longer than 8 MB" in stderr and "line 3: malformed JSON" in stderr
    assert stored(home)[0] == 1


def blobs(home: Path) -> set[str]:
    return {path.name for path in (home / "blobs").rglob("*") if path.is_file()}


@pytest.mark.parametrize(("image", "named"), [
    ("bomb", "line 2: image: image is too large: more than 40 megapixels once decoded"),
    ("truncated.png", "line 2: image: image does not decode"),
    ("signature_then_zeros.png", "line 2: image: image does not decode"),
    ("not_an_image.png", "line 2: image:"),
])
def test_a_hostile_image_in_a_record_is_refused_and_the_batch_leaves_no_blob(home: Path, tmp_path: Path, image: str,
                                                                              named: str) -> None:
    data = bomb_png() if image == "bomb" else (CORPUS / image).read_bytes()
    good = {"prediction_id": "good", "timestamp": "2026-03-01T00:00:00Z", "model_version": "v1",
            "predicted_label": "3", "inference_ms": 4, "image": base64.b64encode(png_digit()).decode()}
    bad = {**good, "prediction_id": "bad", "image": base64.b64encode(data).decode()}
    batch = tmp_path / "images.jsonl"
    batch.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    before, files = stored(home), blobs(home)
    code, stderr, peak = run_measured(home, "ingest", str(batch))
    assert code == 2 and named in stderr and "nothing was written" in stderr and "Traceback" not in stderr, stderr
    assert stored(home) == before
    assert blobs(home) == files  # the valid record's image went with its batch
    assert peak < 600 * MB, f"{peak // MB} MB"


def png_digit() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("L", (8, 8), bytes(range(0, 256, 4))).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("hostile", "named"), [
    ("pickled_code.pt", "does not load with weights_only=True"),
    ("misshaped.pt", "the weights do not match the architecture: tensor shapes differ (first: features.0.weight)"),
    ("truncated.png", "not a PyTorch weights file"),
])
def test_a_hostile_weights_file_is_refused_in_one_sentence_runs_nothing_and_changes_nothing(
        home: Path, hostile: str, named: str) -> None:
    before = stored(home)
    code, stderr, _ = run_measured(home, "model", "register", "--weights", str(CORPUS / hostile), "--arch",
                                   "digits-cnn", "--classes", CLASSES)
    assert code == 2 and named in stderr and stderr.count("\n") == 1, stderr
    assert stored(home) == before
    assert not (home.parent / "retrain-corpus-pwned").exists()  # what pickled_code.pt would create if it ran


def bomb_png() -> bytes:
    """30,000 x 30,000 grey pixels that compress to under 1 MB: 900 megapixels once decoded."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (30_000, 30_000)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@pytest.mark.parametrize("image", ["bomb", "truncated.png", "not_an_image.png"])
def test_a_hostile_image_to_predict_is_refused_in_one_sentence_and_logs_nothing(home: Path, tmp_path: Path,
                                                                                image: str) -> None:
    data = bomb_png() if image == "bomb" else (CORPUS / image).read_bytes()
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps({"image": base64.b64encode(data).decode(), "user_ref": "u"}) + "\n")
    before = stored(home)
    code, stderr, peak = run_measured(home, "predict", "--requests", str(requests))
    assert code == 2, stderr
    assert "line 1: image: image does not decode" in stderr and "Traceback" not in stderr
    assert stored(home) == before
    assert peak < 1500 * MB, f"{peak // MB} MB"  # torch and the model are most of it


def test_an_image_path_leaving_the_requests_directory_is_refused(home: Path) -> None:
    before = stored(home)
    code, stderr, _ = run_measured(home, "predict", "--requests", str(CORPUS / "traversal_requests.jsonl"))
    assert code == 2 and "line 1: image_path:" in stderr and "leaves the requests file's directory" in stderr
    assert stored(home) == before
