"""Ingestion (SPEC section 2): validate prediction and feedback records, then write them atomically, idempotently.

A file is read in chunks; each chunk is prepared (application.chunk_preparation), in this process or by the parsing
workers (the ParsingPool port), then checked and written by the batch (application.ingestion_batch)."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import IO

import structlog

from application.chunk_preparation import Chunk, NewPredictions, prepare_encoded, prepare_for_writing
from application.corrections import DatasetUse
from application.ingestion_batch import Batch, BatchRejected, IngestReport
from application.ledger import Ledger
from application.ports import BlobStore, Clock, FeedbackIntake, ParsingPool, RowEncoder
from application.record_lines import Block, read_blocks
from application.record_validation import ImageCheck, Prepared, Versions, image_problem

log = structlog.get_logger()
CHUNK = 5_000


class Ingestion:
    """Validates every record; writes a batch all at once (or, with skip_invalid, the valid records)."""

    def __init__(self, *, ledger: Ledger, feedback: FeedbackIntake, blobs: BlobStore, clock: Clock,
                 image_check: ImageCheck | None = None, pool: ParsingPool | None = None) -> None:
        self.ledger = ledger
        self.feedback = feedback
        self.blobs = blobs
        self.clock = clock
        self.image_check = image_check or image_problem  # the adapters' check decodes; this one reads the header
        self.pool = pool  # the parsing workers; without one, every chunk is prepared in this process

    def ingest(
        self, lines: Iterable[str], *, skip_invalid: bool = False, progress: Callable[[int], None] | None = None,
        rejects: Callable[[str], None] | None = None, workers: int | None = None, replace: bool = False,
    ) -> IngestReport:
        """Stream the lines in chunks, in one transaction: memory stays bounded whatever the file's size.

        Parsing and validation (pure work) run in `workers` processes of the parsing pool (None: the pool's default)
        when the input spans several chunks; this process keeps the ordering, the duplicate checks and the writes.
        `progress` gets each chunk's lines. With `replace`, a prediction stored earlier with other content is
        re-written, unless a dataset uses it.
        """
        return self._ingest(_chunks(enumerate(lines, start=1), CHUNK), skip_invalid, progress, rejects, workers,
                            replace)

    def ingest_stream(
        self, stream: IO[bytes], *, skip_invalid: bool = False, progress: Callable[[int], None] | None = None,
        rejects: Callable[[str], None] | None = None, workers: int | None = None, replace: bool = False,
    ) -> IngestReport:
        """`ingest` of a file's bytes, read in blocks of whole lines that the parsing workers split
        (application.record_lines): the same lines, outcome and report. `progress` gets each block's bytes."""
        return self._ingest(read_blocks(stream), skip_invalid, progress, rejects, workers, replace)

    def _ingest(self, chunks: Iterator[Chunk], skip_invalid: bool, progress: Callable[[int], None] | None,
                rejects: Callable[[str], None] | None, workers: int | None, replace: bool = False) -> IngestReport:
        report = IngestReport()
        versions = self.version_snapshot()
        now = self.clock.now()
        processes = self.pool.workers(workers) if self.pool is not None else 0
        stored_images: list[str] = []  # images this batch stored that were not there before
        try:
            with self.feedback.writer(exclusive=True) as writer:  # concurrent ingests of the same records: duplicates
                batch = Batch(self.blobs, writer, report, skip_invalid, rejects, stored_images,
                              lambda chunk: prepare_encoded(chunk, versions, now, self.image_check, writer.encoder),
                              DatasetUse(ledger=self.ledger, blobs=self.blobs) if replace else None)
                for chunk, encoded in _encoded_chunks(chunks, versions, now, self.pool, processes, self.image_check,
                                                      writer.encoder, lambda: not batch.clashed):
                    batch.apply(chunk, encoded)
                    if progress:
                        progress(len(chunk.data) if isinstance(chunk, Block) else len(chunk))
                if report.errors and not skip_invalid:
                    raise BatchRejected(report)
        except BaseException:
            try:
                self._remove_unreferenced(stored_images)
            except Exception as error:  # noqa: BLE001 - the batch's own error is the one to report
                log.warning("unreferenced_images_left", images=len(stored_images), error=str(error))
            raise
        if batch.old_images:  # what the replaced records named and no record names now
            self._remove_unreferenced(sorted(set(batch.old_images)))
        log.info("ingested", predictions=report.predictions, feedback=report.feedback, duplicates=report.duplicates,
                 rejected=report.rejected, replaced=report.replaced)
        return report

    def _remove_unreferenced(self, images: list[str]) -> None:
        """A batch that was not written leaves none of the images it stored (unless a record stored since uses one)."""
        if not images:
            return
        in_use = self.feedback.images_in_use(images)
        for sha256 in images:
            if sha256 not in in_use:
                self.blobs.delete(sha256)

    def version_snapshot(self) -> dict[str, tuple[str, frozenset[str]]]:
        """Every version by label and by id: its id and classes (what validating a record needs)."""
        snapshot: dict[str, tuple[str, frozenset[str]]] = {}
        for version in self.ledger.versions():
            entry = (str(version.id), frozenset(version.classes))
            snapshot[version.label] = snapshot[str(version.id)] = entry
        return snapshot


def _encoded_chunks(
    chunks: Iterator[Chunk], versions: Versions, now: datetime, pool: ParsingPool | None, workers: int,
    image_check: ImageCheck, encoder: RowEncoder, compact: Callable[[], bool],
) -> Iterator[tuple[Chunk, list[Prepared] | NewPredictions]]:
    """Each chunk with its encoded entries, in order. With workers, the pool prepares a few chunks ahead (bounded).
    Once `compact()` is False (a chunk of new-looking predictions was not new: a re-sent file), every chunk comes
    as its entries, for the record-by-record checks: no more inserts that fail, and no worker's chunk prepared
    again here."""
    first = next(chunks, None)
    if first is None:
        return
    one_chunk = first.final if isinstance(first, Block) else len(first) < CHUNK
    if pool is None or workers == 0 or one_chunk:  # one chunk: no workers
        for chunk in itertools.chain([first], chunks):
            yield chunk, prepare_for_writing(chunk, versions, now, image_check, encoder, compact=compact())
        return
    sent: deque[Chunk] = deque()  # the chunks handed to the pool, in order: each result is the oldest one's

    def calls() -> Iterator[Callable[[], list[Prepared] | NewPredictions]]:
        for chunk in itertools.chain([first], chunks):  # taken as the pool hands a call over: compact() is read then
            sent.append(chunk)
            yield partial(prepare_for_writing, chunk, versions, now, image_check, encoder, in_worker=True,
                          compact=compact())

    for encoded in pool.results(calls(), workers):
        yield sent.popleft(), encoded


def _chunks(items: Iterable[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
