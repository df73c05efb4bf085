"""Data-parallel training (rule 4.5, `training.world_size` > 1): torchrun starts the workers of one fit.

The trainer writes the job (tensors, starting weights, hyper-parameters) to a directory and launches torchrun
with `-m adapters.torch.distributed`. On one host (`training.nodes` = 1) that is `torchrun --standalone
--nproc-per-node N`. Across hosts (`training.nodes` = H > 1) this host is node 0 and the rendezvous point
(`training.master_addr:master_port`, torchrun's static rendezvous); each other host runs `retrain train-node
--node-rank K`, which starts its torchrun agent and waits for the next training.

Each worker joins the process group (gloo on CPU, nccl on GPU) and receives the job from rank 0 as bytes over the
group (so other hosts need neither the job file nor the blob store), loaded with weights_only=True. It wraps the
model in DistributedDataParallel, reads its share of each epoch from a DistributedSampler, and sends rank 0 the
sha256 of its final weights with its figures; rank 0 writes the weights and every rank's report on node 0. The
launcher refuses a result whose workers disagree.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

from adapters.logs import configure_logging, progress_log
from adapters.torch.datasets import TensorSplit
from adapters.torch.fitting import FitResult, fit, fit_options, progress, seed_everything
from adapters.torch.models import build_model, state_dict_bytes

log = structlog.get_logger()
# a worker traceback's last line, as torchrun passes it on ("[rank0]:ValueError: ..."), not torchrun's own
EXCEPTION_LINE = re.compile(r"^(?:\[rank\d+\]:)?\s*((?!torch\.distributed\.elastic)"
                            r"[\w.]*(?:Error|Exception|Interrupt)\b.*)")


class DistributedTrainingError(RuntimeError):
    """The workers failed, or ended with different weights."""


@dataclass(frozen=True)
class Cluster:
    """Where the workers of a data-parallel training run: `nodes` hosts, node 0 (the trainer's) at master_addr."""

    nodes: int = 1
    master_addr: str = "127.0.0.1"
    master_port: int = 29500

    def torchrun(self, world_size: int, node_rank: int) -> list[str]:
        """The torchrun command of one node, up to the module it runs."""
        if world_size % self.nodes:
            raise DistributedTrainingError(f"training.world_size {world_size} is not a multiple of training.nodes "
                                           f"{self.nodes}")
        per_node = world_size // self.nodes
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={per_node}"]
        if self.nodes == 1:
            return [*command, "--standalone", "-m", "adapters.torch.distributed"]
        return [*command, f"--nnodes={self.nodes}", f"--node-rank={node_rank}", f"--master-addr={self.master_addr}",
                f"--master-port={self.master_port}", "-m", "adapters.torch.distributed"]


def follow(cluster: Cluster, world_size: int, node_rank: int, *, check_only: bool = False,
           stopping: threading.Event | None = None) -> int:
    """One training on a node other than node 0: start torchrun's agent, which waits for node 0's; its exit code.
    When `stopping` is set (SIGTERM), the agent is stopped too: it may be waiting for a training that never comes."""
    if not 0 < node_rank < cluster.nodes:
        raise DistributedTrainingError(f"--node-rank must be between 1 and {cluster.nodes - 1} (training.nodes is "
                                       f"{cluster.nodes}; node 0 is the trainer's host)")
    command = cluster.torchrun(world_size, node_rank)
    if check_only:
        return 0
    with subprocess.Popen(command) as agent:
        while stopping is not None and agent.poll() is None:
            if stopping.wait(0.5):
                agent.terminate()
                break
        return agent.wait()


def fit_distributed(
    model: nn.Module, train: TensorSplit, validation: TensorSplit, *, architecture: str, num_classes: int,
    config: dict[str, Any], seed: int, world_size: int, label: str, cluster: Cluster = Cluster(),
    architecture_options: dict[str, Any] | None = None,
) -> FitResult:
    """The same fit as `torch_trainer.fit`, spread over `world_size` processes on `cluster.nodes` hosts."""
    with tempfile.TemporaryDirectory(prefix="retrain-ddp-") as workdir:
        job = Path(workdir) / "job.pt"
        torch.save({
            "train_x": train.x, "train_y": train.y, "validation_x": validation.x, "validation_y": validation.y,
            "validation_types": list(validation.image_types),
            "state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "architecture": architecture,
            "architecture_options": architecture_options or {}, "num_classes": num_classes, "config": config,
            "seed": seed, "label": label,
        }, job)
        command = [*cluster.torchrun(world_size, 0), "--job", str(job), "--out", workdir]
        returncode, tail = _run_relayingprogress(command, label, int(config["max_epochs"]))
        if returncode != 0:
            raise DistributedTrainingError(f"data-parallel training failed (exit {returncode}): " + " | ".join(tail))
        return collect(Path(workdir), model, world_size)


def _run_relayingprogress(command: list[str], label: str, max_epochs: int) -> tuple[int, list[str]]:
    """Runs torchrun; rank 0's epoch lines become this process's progress; the last lines explain a failure."""
    tail: deque[str] = deque(maxlen=3)
    rank0 = f"{label} rank 0/"
    lines = progress_log()
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
                lines.info("epoch", model=label, world_size=int(entry["model"].split("/")[-1]),
                           **{key: entry[key] for key in ("epoch", "of", "loss", "validation_loss",
                                                          "validation_accuracy", "seconds") if key in entry})
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
def worker(job_path: Path | None, out: Path | None) -> None:
    rank, world_size, local_rank = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        blob = job_path.read_bytes() if rank == 0 and job_path is not None else None
        job = torch.load(io.BytesIO(_broadcast_bytes(blob, device)), map_location="cpu", weights_only=True)
        generator = seed_everything(int(job["seed"]))
        model = build_model(job["architecture"], int(job["num_classes"]), job.get("architecture_options"))
        model.load_state_dict(job["state"])
        train = TensorSplit(job["train_x"], job["train_y"], [""] * len(job["train_y"]))
        validation = TensorSplit(job["validation_x"], job["validation_y"],
                                 list(job.get("validation_types") or [""] * len(job["validation_y"])))
        config = job["config"]
        sampler = DistributedSampler(range(len(train)), num_replicas=world_size, rank=rank, shuffle=True,
                                     seed=int(job["seed"]))
        result = fit(
            model, train, validation,
            # the global batch stays `batch_size`: each of the N workers takes its share of it
            batch_size=max(1, int(config.get("batch_size", 64)) // world_size), generator=generator, device=device,
            label=f"{job['label']} rank {rank}/{world_size}",
            parallel=lambda m: DistributedDataParallel(m, device_ids=[local_rank] if cuda else None),
            sampler=sampler, **fit_options(config),
        )
        weights = state_dict_bytes(result.model)
        report = json.dumps({
            "sha256": hashlib.sha256(weights).hexdigest(), "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run, "best_validation_accuracy": result.best_validation_accuracy,
            "best_validation_loss": result.best_validation_loss, "seconds": result.seconds,
        }).encode()
        reports = _gather_bytes(report, device, world_size)
        if rank == 0:
            if out is None:
                raise DistributedTrainingError("rank 0 runs on node 0, which needs --out")
            (out / "weights.pt").write_bytes(weights)
            for other, text in enumerate(reports):
                (out / f"rank{other}.json").write_bytes(text)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _broadcast_bytes(data: bytes | None, device: torch.device) -> bytes:
    """Rank 0's bytes on every rank (plain tensors: nothing is unpickled)."""
    size = torch.tensor([len(data) if data is not None else 0], dtype=torch.int64, device=device)
    dist.broadcast(size, src=0)
    buffer = (torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device) if data is not None
              else torch.empty(int(size.item()), dtype=torch.uint8, device=device))
    dist.broadcast(buffer, src=0)
    return buffer.cpu().numpy().tobytes()


def _gather_bytes(data: bytes, device: torch.device, world_size: int) -> list[bytes]:
    """Every rank's bytes, in rank order, on every rank (padded to the longest)."""
    size = torch.tensor([len(data)], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(world_size)]
    dist.all_gather(sizes, size)
    longest = max(int(s.item()) for s in sizes)
    padded = torch.zeros(longest, dtype=torch.uint8, device=device)
    padded[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)
    gathered = [torch.zeros_like(padded) for _ in range(world_size)]
    dist.all_gather(gathered, padded)
    return [g.cpu().numpy().tobytes()[: int(s.item())] for g, s in zip(gathered, sizes, strict=True)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one worker of a data-parallel training (started by torchrun)")
    parser.add_argument("--job", type=Path, help="the job file (node 0; other nodes receive the job from rank 0)")
    parser.add_argument("--out", type=Path, help="where rank 0 writes the weights and the reports (node 0)")
    arguments = parser.parse_args(argv)
    configure_logging(verbose=True, json_logs=True)  # JSON lines on stderr: the launcher relays rank 0's epochs
    worker(arguments.job, arguments.out)


if __name__ == "__main__":
    main()
