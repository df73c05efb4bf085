"""Data-parallel training (rule 4.5, `training.world_size` > 1): torchrun starts the workers of one fit.

The trainer writes the job (tensors, starting weights, hyper-parameters) to a directory and launches
`torchrun --standalone --nproc-per-node N -m adapters.torch.distributed`. Each worker joins the process group
(gloo on CPU, nccl on GPU), wraps the model in DistributedDataParallel, reads its share of each epoch from a
DistributedSampler, and writes the sha256 of its final weights; rank 0 also writes the weights. The launcher
refuses a result whose workers disagree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

import structlog
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

from adapters.logs import configure_logging
from adapters.torch.datasets import TensorSplit
from adapters.torch.fitting import FitResult, fit, progress, seed_everything
from adapters.torch.models import build_model, state_dict_bytes

log = structlog.get_logger()
# a worker traceback's last line, as torchrun passes it on ("[rank0]:ValueError: ..."), not torchrun's own
EXCEPTION_LINE = re.compile(r"^(?:\[rank\d+\]:)?\s*((?!torch\.distributed\.elastic)[\w.]*(?:Error|Exception|Interrupt)\b.*)")


class DistributedTrainingError(RuntimeError):
    """The workers failed, or ended with different weights."""


def fit_distributed(
    model: nn.Module, train: TensorSplit, validation: TensorSplit, *, architecture: str, num_classes: int,
    config: dict[str, Any], seed: int, world_size: int, label: str,
) -> FitResult:
    """The same fit as `torch_trainer.fit`, spread over `world_size` local processes by torchrun."""
    with tempfile.TemporaryDirectory(prefix="retrain-ddp-") as workdir:
        job = Path(workdir) / "job.pt"
        torch.save({
            "train_x": train.x, "train_y": train.y, "validation_x": validation.x, "validation_y": validation.y,
            "state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "architecture": architecture,
            "num_classes": num_classes, "config": config, "seed": seed, "label": label,
        }, job)
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world_size}",
                   "-m", "adapters.torch.distributed", "--job", str(job), "--out", workdir]
        returncode, tail = _run_relayingprogress(command, label, int(config["max_epochs"]))
        if returncode != 0:
            raise DistributedTrainingError(f"data-parallel training failed (exit {returncode}): " + " | ".join(tail))
        return collect(Path(workdir), model, world_size)


def _run_relayingprogress(command: list[str], label: str, max_epochs: int) -> tuple[int, list[str]]:
    """Runs torchrun; rank 0's epoch lines become this process's progress; the last lines explain a failure."""
    tail: deque[str] = deque(maxlen=3)
    rank0 = f"{label} rank 0/"
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process, \
            progress(label, max_epochs) as advance:
        assert process.stderr is not None
        for line in process.stderr:
            try:
                entry = json.loads(line)
            except ValueError:
                if cause := EXCEPTION_LINE.match(line.strip()):
                    tail.append(cause.group(1))
                continue
            if entry.get("event") == "epoch" and str(entry.get("model", "")).startswith(rank0):
                log.info("epoch", model=label, epoch=entry["epoch"], world_size=entry["model"].split("/")[-1],
                         validation_accuracy=entry["validation_accuracy"], loss=entry["loss"])
                advance(entry["epoch"], entry["validation_accuracy"])
    return process.returncode, list(dict.fromkeys(tail)) or ["see the workers' output (run with --verbose)"]


def collect(workdir: Path, model: nn.Module, world_size: int) -> FitResult:
    """Rank 0's weights, once every worker reported the same sha256 for its own."""
    reports = [json.loads((workdir / f"rank{rank}.json").read_text()) for rank in range(world_size)]
    digests = {report["sha256"] for report in reports}
    if len(digests) != 1:
        raise DistributedTrainingError(f"the {world_size} workers ended with different weights: {sorted(digests)}")
    state = torch.load(workdir / "weights.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    first = reports[0]
    return FitResult(model.eval(), first["best_epoch"], first["epochs_run"], first["best_validation_accuracy"],
                     first["seconds"], first["best_validation_loss"])


# -- the worker, run by torchrun -------------------------------------------------------------------------
def worker(job_path: Path, out: Path) -> None:
    rank, world_size, local_rank = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        job = torch.load(job_path, map_location="cpu", weights_only=True)
        generator = seed_everything(int(job["seed"]))
        model = build_model(job["architecture"], int(job["num_classes"]))
        model.load_state_dict(job["state"])
        train = TensorSplit(job["train_x"], job["train_y"], [""] * len(job["train_y"]))
        validation = TensorSplit(job["validation_x"], job["validation_y"], [""] * len(job["validation_y"]))
        config = job["config"]
        sampler = DistributedSampler(range(len(train)), num_replicas=world_size, rank=rank, shuffle=True,
                                     seed=int(job["seed"]))
        result = fit(
            model, train, validation, learning_rate=float(config["learning_rate"]),
            max_epochs=int(config["max_epochs"]), patience=int(config["patience"]),
            # the global batch stays `batch_size`: each of the N workers takes its share of it
            batch_size=max(1, int(config.get("batch_size", 64)) // world_size), generator=generator, device=device,
            label=f"{job['label']} rank {rank}/{world_size}",
            parallel=lambda m: DistributedDataParallel(m, device_ids=[local_rank] if cuda else None),
            sampler=sampler,
        )
        weights = state_dict_bytes(result.model)
        if rank == 0:
            (out / "weights.pt").write_bytes(weights)
        (out / f"rank{rank}.json").write_text(json.dumps({
            "sha256": hashlib.sha256(weights).hexdigest(), "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run, "best_validation_accuracy": result.best_validation_accuracy,
            "best_validation_loss": result.best_validation_loss, "seconds": result.seconds,
        }))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one worker of a data-parallel training (started by torchrun)")
    parser.add_argument("--job", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args(argv)
    configure_logging(verbose=True, json_logs=True)  # JSON lines on stderr: the launcher relays rank 0's epochs
    worker(arguments.job, arguments.out)


if __name__ == "__main__":
    main()
