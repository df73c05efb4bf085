"""The server's batches: requests that arrive while one batch is being classified and committed form the next.

Everything runs on the event loop's thread: a batch of 8x8 digits is classified in about a millisecond and
committed in one transaction. Handing batches to other threads was measured slower here: every hand-over waits
for the GIL while the loop parses requests (benchmarks/serve_bench.py; docs/decisions.md)."""

from __future__ import annotations

import asyncio

import structlog

from application.serving import PredictRequest, Served, Serving, serve_batch
from domain.errors import InvalidInput

log = structlog.get_logger()
Pending = tuple[PredictRequest, "asyncio.Future[Served]"]
LINGER_TURNS = 4


class PredictionBatcher:
    def __init__(self, serving: Serving, *, max_batch: int) -> None:
        self.serving = serving
        self.max_batch = max_batch
        self._pending: asyncio.Queue[Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="prediction-batches")

    async def submit(self, request: PredictRequest) -> Served:
        """The prediction, once its row is committed. An invalid request is refused before it waits."""
        problem = request.problem()
        if problem is not None:
            raise InvalidInput(f"{problem[0]}: {problem[1]}")
        if self._task is None:
            raise RuntimeError("the prediction batcher is not running")
        if self._closed:
            raise RuntimeError("the server is shutting down")
        future: asyncio.Future[Served] = asyncio.get_running_loop().create_future()
        self._pending.put_nowait((request, future))
        return await future

    async def close(self) -> None:
        """Classify and commit what is pending, then stop."""
        if self._task is not None and not self._closed:
            self._closed = True
            self._pending.put_nowait(None)
            await self._task

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._pending.get()
            if first is None:
                return
            for _ in range(LINGER_TURNS):  # let requests already read reach the queue and join this batch
                await asyncio.sleep(0)
            batch = [first]
            while len(batch) < self.max_batch and not self._pending.empty():
                item = self._pending.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                outcomes = serve_batch(self.serving, [request for request, _ in batch])
            except Exception as error:  # noqa: BLE001 - never leave a caller waiting; the batches go on
                log.error("prediction_batch_failed", requests=len(batch), error=type(error).__name__)
                outcomes = [error] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.cancelled():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
            await asyncio.sleep(0)  # read the requests that arrived meanwhile before the next batch
