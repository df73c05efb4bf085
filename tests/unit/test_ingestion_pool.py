"""The parsing workers' pool (adapters.ingestion_pool): each call's result in order, the calls taken from the ingest
only a bounded few ahead of the results it has read."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from functools import partial

from adapters.ingestion_pool import ProcessParsingPool


def test_the_results_come_in_order_and_the_calls_are_taken_a_bounded_few_ahead() -> None:
    taken: list[int] = []

    def calls() -> Iterator[Callable[[], int]]:
        for number in range(12):
            taken.append(number)
            yield partial(operator.mul, number, number)

    ahead = []
    results = []
    for result in ProcessParsingPool().results(calls(), 2):
        ahead.append(len(taken) - len(results))  # handed over and not yet read, this one included
        results.append(result)
    assert results == [number * number for number in range(12)]
    assert max(ahead) == 2 * 2 + 1


def test_an_ingest_gets_the_workers_it_asks_for_or_one_per_core_beside_its_own_up_to_four() -> None:
    pool = ProcessParsingPool()
    assert (pool.workers(0), pool.workers(3), pool.workers(-1)) == (0, 3, 0)
    assert 0 <= pool.workers(None) <= 4
