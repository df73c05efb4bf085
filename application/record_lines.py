"""Reading records as numbered lines, with bounded memory (SPEC section 2).

Two readers give the same lines. `bounded_lines` reads a text stream line by line. `read_blocks` reads a byte
stream in blocks of whole lines, which the parsing workers split (`Block.lines`): the ingesting process only finds
where each block ends and counts its lines, at C speed, so that its own time goes to writing. Both read as Python's
text files do: "\\n", "\\r\\n" and "\\r" end a line, and bytes that are not UTF-8 are kept as surrogates, so that
their line is refused rather than altered. Both turn a line longer than `limit` characters into an OverlongLine
holding its start; the rest of it is read and dropped. tests/unit/test_record_lines.py checks they agree.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

MB = 1024 * 1024
MAX_LINE_CHARS = 8 * MB  # a record with a 5 MB image (6.7 MB of base64) and a 2,000-character comment fits
BLOCK_BYTES = MB  # about 5,000 records without images
MAX_CHAR_BYTES = 4  # a UTF-8 character takes at most 4 bytes
KEPT_CHARS = 1000  # an overlong line keeps its first characters, for the rejects file


class OverlongLine(str):
    """The start of a line longer than MAX_LINE_CHARS: the rest was read and dropped, and the line is refused."""

    reason = f"the line is longer than {MAX_LINE_CHARS // MB} MB (a record with a 5 MB image fits)"


def undecodable(text: str) -> bool:
    """The line held bytes that are not UTF-8 (read with errors="surrogateescape", which keeps them as surrogates)."""
    return not text.isascii() and _UNDECODABLE.search(text) is not None


_UNDECODABLE = re.compile("[\udc80-\udcff]")  # how surrogateescape keeps the bytes that are not UTF-8


def _overlong(start: str, limit: int) -> OverlongLine:
    return OverlongLine(start[:min(limit + 1, KEPT_CHARS)] + "\n")


def bounded_lines(handle: IO[str], limit: int = MAX_LINE_CHARS) -> Iterator[str]:
    """The lines of a text file, each read with at most `limit` characters in memory: a longer line is consumed in
    pieces and yields an OverlongLine holding its first 1,000 characters."""
    while line := handle.readline(limit + 1):
        if len(line) <= limit or line.endswith("\n"):
            yield line
            continue
        while (rest := handle.readline(MB)) and not rest.endswith("\n"):
            pass
        yield _overlong(line, limit)


@dataclass(frozen=True, slots=True)
class Block:
    """`count` whole lines of a byte stream, the first of them numbered `first_line`. `final`: the input ends with
    it. `overlong`: `data` is only the first bytes of one line longer than `limit` characters."""

    first_line: int
    data: bytes
    count: int
    limit: int = MAX_LINE_CHARS
    final: bool = False
    overlong: bool = False

    def lines(self) -> list[tuple[int, str]]:
        """The numbered lines, as `bounded_lines` reads them (each with its "\\n", but a last one without)."""
        text = self.data.decode("utf-8", "surrogateescape")
        if self.overlong:
            return [(self.first_line, _overlong(text, self.limit))]
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        parts = text.split("\n")
        last = parts.pop()
        lines = [part + "\n" for part in parts]
        if last:
            lines.append(last)
        if len(text) > self.limit:  # else no line can be too long
            lines = [_overlong(line, self.limit) if len(line.removesuffix("\n")) > self.limit else line
                     for line in lines]
        return list(enumerate(lines, start=self.first_line))


def read_blocks(handle: IO[bytes], limit: int = MAX_LINE_CHARS, size: int | None = None) -> Iterator[Block]:
    """Blocks of whole lines of about `size` bytes (BLOCK_BYTES; one line at least), the last marked `final`. At most
    4 x `limit` bytes of a line are held (a line that long is longer than `limit` characters, and dropped)."""
    previous: Block | None = None
    for block in _blocks(handle, limit, size or BLOCK_BYTES):
        if previous is not None:
            yield previous
        previous = block
    if previous is not None:
        yield dataclasses.replace(previous, final=True)


def _blocks(handle: IO[bytes], limit: int, size: int) -> Iterator[Block]:
    number, buffer = 1, b""
    while True:
        data = handle.read(size)
        buffer = buffer + data if buffer else data
        if not data:
            if buffer:
                yield Block(number, buffer, _line_count(buffer), limit)
            return
        # The block ends after the last line end; a "\r" that ends the buffer may be the start of a "\r\n".
        cut = max(buffer.rfind(b"\n"), buffer.rfind(b"\r", 0, len(buffer) - 1)) + 1
        if cut:
            block, buffer = buffer[:cut], buffer[cut:]
            count = _line_count(block)
            yield Block(number, block, count, limit)
            number += count
        elif len(buffer) > MAX_CHAR_BYTES * (limit + 1):
            yield Block(number, buffer[:MAX_CHAR_BYTES * min(limit + 1, KEPT_CHARS)], 1, limit, overlong=True)
            number += 1
            buffer = _rest_after_line_end(handle, size, after_cr=buffer.endswith(b"\r"))


def _line_count(data: bytes) -> int:
    """Lines in `data` ("\\n", "\\r\\n" and "\\r" end one), counting a last one without its end."""
    count = data.count(b"\n")
    if b"\r" in data:
        count += data.count(b"\r") - data.count(b"\r\n")
    return count + (not data.endswith((b"\n", b"\r")))


def _rest_after_line_end(handle: IO[bytes], size: int, after_cr: bool = False) -> bytes:
    """Read and drop the rest of a line (its "\\r" may be the last byte of one read and its "\\n" the first of the
    next); what comes after its end. `after_cr`: the line's "\\r" was already read (a "\\n" may still follow)."""
    while data := handle.read(size):
        if after_cr:
            return data.removeprefix(b"\n")
        ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
        if not ends:
            continue
        end = min(ends)
        if data[end:end + 2] == b"\r\n":
            return data[end + 2:]
        if end == len(data) - 1 and data[end:] == b"\r":
            after_cr = True
            continue
        return data[end + 1:]
    return b""
