"""Through the installed `retrain` command: a model registered without original datasets cannot be fully retrained,
and an operator who forces it is told, in one sentence, what to attach (rule 4.4)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import CLASSES, run


def test_forcing_full_retraining_without_an_original_training_set_exits_1_naming_the_command_and_records_nothing(
        tmp_path: Path, weights: Path) -> None:
    home = tmp_path / "home"
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes",
                     CLASSES, "--production")
    assert registered.returncode == 0, registered.stderr
    assert run(home, "campaign", "open", "--reason", "users complain").returncode == 0
    before = json.loads(run(home, "history", "--json").stdout)

    forced = run(home, "campaign", "strategy", "1", "full")

    assert forced.returncode == 1, forced.stderr
    message = forced.stderr.strip()
    assert "full retraining needs the lineage's original training set" in message, message
    assert "retrain model datasets v1 --train DIR" in message and len(message.splitlines()) == 1, message
    assert "Traceback" not in forced.stderr
    assert json.loads(run(home, "history", "--json").stdout) == before
