"""Through the installed `retrain` command, as a user would: register a model, then read the history."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.e2e.cli import CLASSES, run


def test_register_then_history_shows_the_registered_event_with_actor_and_time(tmp_path: Path, weights: Path) -> None:
    home = tmp_path / "home"
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn",
                     "--classes", CLASSES, "--production", "--actor", "user:alice",
                     "--now", "2026-02-01T09:30:00+00:00")
    assert registered.returncode == 0, registered.stderr
    assert "Registered v1" in registered.stdout

    history = run(home, "history", "--json")
    assert history.returncode == 0, history.stderr
    events = json.loads(history.stdout)
    assert [e["event"] for e in events] == ["Registered", "Promoted"]
    first = events[0]
    assert first["aggregate"] == "ModelVersion" and first["version"] == "v1"
    assert first["actor"] == "user:alice"
    assert first["time"] == "2026-02-01T09:30:00+00:00"
    assert first["details"]["classes"] == CLASSES.split(",")

    models = json.loads(run(home, "models", "--json").stdout)
    assert [(m["label"], m["state"]) for m in models] == [("v1", "production")]
    assert set(models[0]) >= {"label", "id", "state", "parent", "created_at", "artifact_sha256", "metrics"}


def test_weights_of_another_architecture_are_refused_and_change_nothing(tmp_path: Path, weights: Path) -> None:
    home = tmp_path / "home"
    refused = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes", "a,b")
    assert refused.returncode == 2
    assert "do not match the architecture" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert json.loads(run(home, "history", "--json").stdout) == []


@pytest.mark.parametrize("content", [b"not a torch file", b"root:x:0:0:root:/root:/bin/bash\n", b"hello world",
                                     bytes([0x80, 0x02, 0x65, 0x2E, 0x00, 0xFF])])
def test_a_file_that_is_not_a_state_dict_is_refused_in_one_sentence(tmp_path: Path, content: bytes) -> None:
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(content)
    refused = run(tmp_path / "home", "model", "register", "--weights", str(bogus), "--arch", "digits-cnn",
                  "--classes", CLASSES)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "not a PyTorch weights file" in refused.stderr


def test_an_unknown_version_exits_3(tmp_path: Path) -> None:
    result = run(tmp_path / "home", "models", "show", "v7")
    assert result.returncode == 3
    assert result.stderr.strip() == "retrain: no model version 'v7'"


def test_an_invalid_setting_fails_at_start_naming_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "retrain.toml"
    config.write_text("[triggers]\nsatisfaction_min = 1.5\n")
    result = run(tmp_path / "home", "--config", str(config), "models")
    assert result.returncode == 2
    assert "triggers.satisfaction_min" in result.stderr


def test_usage_errors_and_bad_times_exit_2_without_a_traceback(tmp_path: Path) -> None:
    for args, message in [(("bogus",), "No such command"), (("monitor", "--now", "2026-01-01"), "needs a UTC offset"),
                          (("history", "--since", "yesterday"), "is not an RFC 3339 time")]:
        result = run(tmp_path / "home", *args)
        assert result.returncode == 2, args
        assert message in result.stderr and "Traceback" not in result.stderr


def test_forcing_a_strategy_is_checked_before_anything_is_recorded(tmp_path: Path, weights: Path) -> None:
    home = tmp_path / "home"
    assert run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes", CLASSES,
               "--production").returncode == 0
    assert run(home, "campaign", "open", "--reason", "users complain").returncode == 0
    unknown = run(home, "campaign", "strategy", "1", "bigger")
    assert unknown.returncode == 2 and "strategy must be one of fine_tune, full" in unknown.stderr
    early = run(home, "campaign", "strategy", "1", "full")
    assert early.returncode == 1 and "Traceback" not in early.stderr
    events = [e["event"] for e in json.loads(run(home, "history", "--json").stdout)]
    assert "StrategyChosen" not in events


def test_models_verify_exits_1_naming_each_artifact_missing_or_altered(tmp_path: Path, weights: Path) -> None:
    home = tmp_path / "home"
    assert run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes", CLASSES,
               "--production").returncode == 0
    assert run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes", CLASSES,
               "--allow-duplicate").returncode == 0
    ok = run(home, "models", "verify", "--json")
    assert ok.returncode == 0 and [r["state"] for r in json.loads(ok.stdout)] == ["ok", "ok"]
    sha = json.loads(ok.stdout)[0]["artifact_sha256"]
    blob = home / "blobs" / sha[:2] / sha
    blob.write_bytes(blob.read_bytes()[:-1] + b"x")  # both versions share these weights: both fail
    altered = run(home, "models", "verify")
    assert altered.returncode == 1 and "v1 (corrupted), v2 (corrupted)" in altered.stderr
    blob.unlink()
    missing = run(home, "models", "verify", "--json")
    assert missing.returncode == 1 and [r["state"] for r in json.loads(missing.stdout)] == ["missing", "missing"]
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize("setting", ["RETRAIN_EVENT_STORE", "RETRAIN_FEEDBACK_STORE"])
def test_an_unreachable_postgresql_is_one_sentence_within_seconds(tmp_path: Path, setting: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    refused = run(tmp_path / "home", "models", settings={setting: f"postgresql://postgres@127.0.0.1:{port}/retrain"})
    assert refused.returncode == 1 and time.monotonic() - started < 15
    store = setting.removeprefix("RETRAIN_").lower().replace("_", " ")
    assert refused.stderr.startswith(f"retrain: the {store} (PostgreSQL at 127.0.0.1:{port}/retrain) cannot be reached")
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr


def test_init_logs_one_line_per_epoch_to_a_pipe_and_says_when_the_cap_stopped_an_improving_run(tmp_path: Path) -> None:
    done = run(tmp_path / "home", "init", "--epochs", "3")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    epochs = [line for line in lines if line["event"] == "epoch"]
    assert [line["epoch"] for line in epochs] == [1, 2, 3] and all(line["of"] == 3 for line in epochs)
    assert all({"loss", "validation_loss", "validation_accuracy", "seconds"} <= set(line) for line in epochs)
    losses = [line["validation_loss"] for line in epochs]
    capped = [line for line in lines if line["event"] == "epoch_cap_reached_while_improving"]
    assert len(capped) == (1 if min(losses) == losses[-1] else 0)


def _folder(root: Path, mode: str, size: int) -> Path:
    from PIL import Image

    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.new(mode, (size, size), color=40 * i if mode == "L" else (40 * i, 0, 0)).save(
                root / label / f"{i}.png")
    return root


@pytest.mark.parametrize(("mode", "size", "options", "named"), [
    ("RGB", 16, ["--arch", "digits-cnn"], "digits-cnn takes grey images (1 channel)"),
    ("L", 28, ["--arch", "resnet18", "--input-size", "16"], "resnet18 needs images of at least 32x32 pixels"),
    ("L", 28, ["--arch", "resnet18", "--channels", "1"], "resnet18 takes colour images (3 channels)"),
    ("RGB", 16, ["--arch", "no-such-net"], "unknown architecture 'no-such-net'"),
    ("L", 28, ["--input-size", "28x"], "--input-size must be N or HxW"),
    ("L", 28, ["--channels", "2"], "--channels must be 1 (grey) or 3 (colour)"),
    ("L", 28, [], "holds 6 images: too few to split"),
])
def test_an_architecture_that_cannot_take_the_folder_is_refused_before_anything_is_copied(
        tmp_path: Path, mode: str, size: int, options: list[str], named: str) -> None:
    folder = _folder(tmp_path / "photos", mode, size)
    home = tmp_path / "home"
    refused = run(home, "init", "--dataset", str(folder), *options)
    assert refused.returncode == 2 and named in refused.stderr, refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    blobs = home / "blobs"
    assert not blobs.exists() or not any(path.is_file() for path in blobs.rglob("*"))


def test_init_sizes_the_input_to_the_folder_and_models_show_exposes_it(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "grey28"
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(10):
            pixels = [(i * 20 + x * (3 if label == "a" else -3)) % 256 for x in range(28 * 28)]
            image = Image.new("L", (28, 28))
            image.putdata(pixels)
            image.save(folder / label / f"{i}.png")
    home = tmp_path / "home"
    done = run(home, "init", "--dataset", str(folder), "--epochs", "1")
    assert done.returncode == 0, done.stderr
    assert "(small-cnn, 28x28 grey)" in done.stdout
    shown = json.loads(run(home, "models", "show", "v1", "--json").stdout)
    assert shown["architecture"] == "small-cnn"
    assert shown["input_spec"] == {"mode": "L", "size": [28, 28], "mean": [0.5], "std": [0.5]}
