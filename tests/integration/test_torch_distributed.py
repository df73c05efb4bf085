"""Data-parallel training: two gloo processes on the CPU, launched by torchrun, end with the same weights."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import adapters.torch.distributed as distributed
from adapters.torch.models import build_model, load_model
from adapters.torch.trainer import TorchTrainer
from tests.fakes import InMemoryBlobStore
from tests.torch_support import DIGIT_CLASSES, first_request, small_digits


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every rank's report, as node 0 collects them."""
    kept: list[dict[str, Any]] = []
    collect = distributed.collect

    def keep_reports(workdir: Path, model: torch.nn.Module, world_size: int) -> Any:
        kept.extend(json.loads((workdir / f"rank{rank}.json").read_text()) for rank in range(world_size))
        return collect(workdir, model, world_size)

    monkeypatch.setattr(distributed, "collect", keep_reports)
    return kept


def test_two_gloo_processes_end_with_identical_weights_and_rank_0_stores_them(reports: list[dict[str, Any]]) -> None:
    blobs = InMemoryBlobStore()
    trained = TorchTrainer(blobs, device=torch.device("cpu")).train(first_request(small_digits(blobs), world_size=2))

    rank0, rank1 = reports
    assert rank0["sha256"] == rank1["sha256"] == trained.artifact_sha256
    assert rank0["best_epoch"] == rank1["best_epoch"] == trained.metrics["best_epoch"]
    assert trained.metrics["world_size"] == 2 and trained.metrics["epochs_run"] <= 2
    load_model(blobs.get(trained.artifact_sha256), "digits-cnn", len(DIGIT_CLASSES))
    assert trained.metrics["test_accuracy"] > 0.5  # it learned: chance is 0.1


def test_workers_that_end_with_different_weights_are_refused(tmp_path: Path) -> None:
    model = build_model("digits-cnn", 10)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    for rank, digest in enumerate(("a" * 64, "b" * 64)):
        (tmp_path / f"rank{rank}.json").write_text(json.dumps({
            "sha256": digest, "best_epoch": 1, "epochs_run": 1, "best_validation_accuracy": 0.5, "seconds": 0.1}))
    with pytest.raises(distributed.DistributedTrainingError, match="different weights"):
        distributed.collect(tmp_path, model, 2)


def test_a_worker_that_fails_gives_an_error_naming_the_cause() -> None:
    blobs = InMemoryBlobStore()
    request = first_request(small_digits(blobs), world_size=2)
    prepared = TorchTrainer(blobs, device=torch.device("cpu")).data(request, torch.Generator())
    train, validation = prepared.train, prepared.validation
    with pytest.raises(distributed.DistributedTrainingError, match="unknown architecture 'no-such-net'"):
        distributed.fit_distributed(build_model("digits-cnn", 10), train, validation, architecture="no-such-net",
                                    num_classes=10, config=request.config, seed=0, world_size=2, label="broken")


def start_node_1(home: Path, *options: str) -> tuple[int, subprocess.Popen[str]]:
    """`retrain train-node --node-rank 1` of a 2-node, 2-process cluster whose node 0 is on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")} | {
        "RETRAIN_TRAINING__NODES": "2", "RETRAIN_TRAINING__WORLD_SIZE": "2",
        "RETRAIN_TRAINING__MASTER_PORT": str(port), "RETRAIN_HOME": str(home)}
    node = subprocess.Popen([str(Path(sys.executable).with_name("retrain")), "train-node", "--node-rank", "1",
                             *options], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return port, node


def test_two_nodes_train_together_the_second_started_by_retrain_train_node(reports: list[dict[str, Any]],
                                                                           tmp_path: Path) -> None:
    """training.nodes = 2 on loopback: this process is node 0 (it launches torchrun with a static rendezvous and
    sends the job over the group); `retrain train-node --node-rank 1 --once`, as another host would run it, is
    node 1. Both ranks end with the same weights, and node 1 needs no store."""
    port, follower = start_node_1(tmp_path / "elsewhere", "--once")
    blobs = InMemoryBlobStore()
    try:
        trainer = TorchTrainer(blobs, device=torch.device("cpu"), cluster=distributed.Cluster(2, "127.0.0.1", port))
        trained = trainer.train(first_request(small_digits(blobs), world_size=2))
        _, stderr = follower.communicate(timeout=120)
    finally:
        follower.kill()
    assert follower.returncode == 0, stderr
    rank0, rank1 = reports
    assert rank0["sha256"] == rank1["sha256"] == trained.artifact_sha256
    assert trained.metrics["world_size"] == 2 and trained.metrics["test_accuracy"] > 0.5
    assert not (tmp_path / "elsewhere").exists()  # node 1 opened no store


def test_a_world_size_that_does_not_spread_over_the_nodes_is_refused() -> None:
    with pytest.raises(distributed.DistributedTrainingError,
                       match="world_size 3 is not a multiple of training.nodes 2"):
        distributed.Cluster(2).torchrun(3, 0)


def test_retrain_train_node_stops_on_sigterm_while_it_waits_for_a_training(tmp_path: Path) -> None:
    _, node = start_node_1(tmp_path / "home")
    assert node.stderr is not None
    seen = []
    for line in node.stderr:  # once it says it is ready (its SIGTERM handler is set), its torchrun agent waits
        seen.append(line)
        if "train_node_ready" in line:
            break
    time.sleep(1)
    node.send_signal(signal.SIGTERM)
    _, stderr = node.communicate(timeout=20)  # it waited for ever before
    assert node.returncode == 0, "".join(seen) + stderr
    assert "train_node_done" in stderr


TEAM_NET = '''
from torch import nn


def build(num_classes: int, width: int = 4) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(4 * width, num_classes))
'''


def test_every_worker_rebuilds_a_team_architecture_from_its_recorded_path_and_kwargs(
        tmp_path: Path, reports: list[dict[str, Any]]) -> None:
    """The team's package is importable only from its recorded --arch-path, never from this process's sys.path
    alone: each torchrun worker imports it from there, with the recorded kwargs."""
    from dataclasses import replace

    from adapters.torch.models import state_dict_bytes
    from tests.torch_support import curated_digits, parent_ref

    (tmp_path / "distteam").mkdir()
    (tmp_path / "distteam" / "__init__.py").write_text("")
    (tmp_path / "distteam" / "nets.py").write_text(TEAM_NET)
    options = {"kwargs": {"width": 6}, "path": str(tmp_path)}
    blobs = InMemoryBlobStore()
    parent = replace(parent_ref(blobs.put(state_dict_bytes(build_model("distteam.nets:build", 10, options)))),
                     architecture="distteam.nets:build", architecture_options=options)
    curated = curated_digits(blobs, {"train": list(range(60)), "validation": list(range(60, 80))})
    request = replace(first_request(small_digits(blobs), world_size=2), strategy="fine_tune", parent=parent,
                      dataset_id=curated)

    trained = TorchTrainer(blobs, device=torch.device("cpu")).train(request)

    assert [r["sha256"] for r in reports] == [trained.artifact_sha256] * 2
    model = load_model(blobs.get(trained.artifact_sha256), "distteam.nets:build", 10, options)
    assert model[0].out_channels == 6
