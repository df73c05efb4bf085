"""A chunk of an ingest's lines prepared for writing: its records validated (application.record_validation) and
turned into the store's rows by the writer's RowEncoder. Pure work, run in the ingesting process or by the parsing
workers (application.ports.ParsingPool)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from application.ports import RowEncoder
from application.record_lines import Block
from application.record_validation import ImageCheck, Prepared, Versions, prepare

Chunk = list[tuple[int, str]] | Block  # numbered lines, or a block of a file's bytes that prepare_encoded splits


def numbered(chunk: Chunk) -> list[tuple[int, str]]:
    """The chunk's numbered lines (a block is split here)."""
    return chunk.lines() if isinstance(chunk, Block) else chunk


def prepare_encoded(chunk: Chunk, versions: Versions, now: datetime, image_check: ImageCheck,
                    encoder: RowEncoder, keep_text: bool = True) -> list[Prepared]:
    """`prepare`, with each accepted record turned into the store's rows by its encoder, as what the checks against
    the store need: ("prediction", line, text, id, fingerprint, version id, own answer's fingerprint, image bytes,
    image sha256, (row, own answer's row)) or ("feedback", line, text, id, fingerprint, row). Without `keep_text`
    an accepted entry leaves its text out (None): a parsing worker sends back less, and the chunk has it."""
    encoded: list[Prepared] = []
    for entry in prepare(numbered(chunk), versions, now, image_check):
        kind, line, text = entry[0], entry[1], entry[2] if keep_text else None
        if kind == "prediction":
            _, _, _, pid, prediction, answer, image = entry
            encoded.append((kind, line, text, pid, prediction.fingerprint, prediction.version_id,
                            answer.fingerprint if answer is not None else None, image, prediction.image_sha256,
                            encoder.prediction(prediction, answer)))
        elif kind == "feedback":
            _, _, _, pid, answer, _, _ = entry
            encoded.append((kind, line, text, pid, answer.fingerprint, encoder.feedback(answer)))
        else:
            encoded.append(entry)
    return encoded


@dataclass(frozen=True, slots=True)
class NewPredictions:
    """A chunk made only of new-looking predictions (none twice in it, no image, nothing refused: the loop of
    application.ingestion_batch.Batch.apply would find nothing to refuse, count or store beside the rows): the common
    chunk of a bulk import. A parsing worker sends back only the rows and the counts, about half of what its entries
    would take to send and read back; `entries` are kept where the chunk was prepared in this process."""

    rows: list[Any]
    answers: list[Any]  # the predictions' own answers
    by_version: dict[str, int]  # version id -> predictions
    answered_by_version: dict[str, int]  # version id -> own answers
    entries: list[Prepared] | None = None


def prepare_for_writing(chunk: Chunk, versions: Versions, now: datetime, image_check: ImageCheck,
                        encoder: RowEncoder, *, in_worker: bool = False,
                        compact: bool = True) -> list[Prepared] | NewPredictions:
    """`prepare_encoded`, given as NewPredictions when the chunk is only new-looking predictions (and `compact`)."""
    encoded = prepare_encoded(chunk, versions, now, image_check, encoder, keep_text=not in_worker)
    if not compact or not encoded or any(entry[0] != "prediction" or entry[7] is not None for entry in encoded):
        return encoded
    if len({entry[3] for entry in encoded}) != len(encoded):
        return encoded
    answered = [entry for entry in encoded if entry[9][1] is not None]
    return NewPredictions([entry[9][0] for entry in encoded], [entry[9][1] for entry in answered],
                          Counter(entry[5] for entry in encoded), Counter(entry[5] for entry in answered),
                          None if in_worker else encoded)


