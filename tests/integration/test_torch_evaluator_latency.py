"""TorchEvaluator's latency (rule 4.6, gate 3): a few calls that another process preempts on a busy machine do not
make a candidate as fast as its parent look slower, and a candidate slower on every call is measured slower."""

from __future__ import annotations

import time

import pytest
import torch

from adapters.torch.datasets import TensorSplit
from adapters.torch.evaluator import TorchEvaluator
from tests.fakes import InMemoryBlobStore
from tests.torch_support import one_torch_thread

pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)
CPU = torch.device("cpu")
IMAGES = TensorSplit(torch.zeros(8, 1, 8, 8), torch.zeros(8, dtype=torch.long), ["digits"] * 8)


class Sleeper(torch.nn.Module):
    """Sleeps `ms` on every call, and `stall_ms` more on the calls numbered in `stalls` (counted after 10 warm-up)."""

    def __init__(self, ms: float, stall_ms: float = 0.0, stalls: frozenset[int] = frozenset()) -> None:
        super().__init__()
        self.ms, self.stall_ms, self.stalls, self.calls = ms, stall_ms, stalls, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        stalled = self.calls - 10 in self.stalls
        time.sleep((self.ms + (self.stall_ms if stalled else 0.0)) / 1000)
        return x


def latencies(parent: Sleeper, candidate: Sleeper, calls: int) -> tuple[float, float]:
    measured = TorchEvaluator(InMemoryBlobStore(), latency_calls=calls, device=CPU).latencies(parent, candidate,
                                                                                             IMAGES)
    assert measured is not None
    return measured


def test_a_few_preempted_calls_of_the_candidate_do_not_make_it_fail_the_latency_gate() -> None:
    # 3 of 40 calls stall 40 ms: their plain mean would be 2 ms + 3 ms, well over 1.5 x the parent's 2 ms
    parent, candidate = Sleeper(2.0), Sleeper(2.0, stall_ms=40.0, stalls=frozenset({5, 17, 31}))
    parent_ms, candidate_ms = latencies(parent, candidate, 40)
    assert candidate_ms <= 1.5 * parent_ms, (parent_ms, candidate_ms)


def test_a_candidate_slower_on_every_call_is_measured_slower() -> None:
    parent_ms, candidate_ms = latencies(Sleeper(1.0), Sleeper(4.0), 40)
    assert candidate_ms > 1.5 * parent_ms, (parent_ms, candidate_ms)


def test_without_an_image_there_is_no_latency() -> None:
    empty = TensorSplit(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long), [])
    assert TorchEvaluator(InMemoryBlobStore(), latency_calls=4, device=CPU).latencies(Sleeper(1), Sleeper(1),
                                                                                      empty) is None
