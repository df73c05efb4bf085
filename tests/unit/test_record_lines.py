"""The two ways of reading records as lines agree (application.record_lines): blocks of bytes split by the parsing
workers give the same numbered lines, overlong ones included, as a text file read line by line."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from application.record_lines import Block, OverlongLine, bounded_lines, read_blocks

PROPERTIES = settings(deadline=None, database=None, max_examples=2000)
pieces = st.sampled_from([b"\n", b"\r", b"\r\n", b"{}", b"a", b"bb", b"\xc3\xa9", b"\xe2\x82", b"\xff",
                          b"\xf0\x9f\x99\x82", b" ", b"x" * 25, b"\xc3\xa9" * 12])


def by_text_file(data: bytes, limit: int) -> list[tuple[int, str, bool]]:
    handle = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")
    return [(n, line, isinstance(line, OverlongLine)) for n, line in enumerate(bounded_lines(handle, limit), start=1)]


def by_blocks(data: bytes, limit: int, size: int) -> list[tuple[int, str, bool]]:
    blocks = list(read_blocks(io.BytesIO(data), limit, size))
    assert [block.final for block in blocks] == [False] * (len(blocks) - 1) + [True] * bool(blocks)
    numbered = [line for block in blocks for line in block.lines()]
    for block, following in zip(blocks, blocks[1:], strict=False):
        assert following.first_line == block.first_line + block.count
        assert len(block.lines()) == block.count
    return [(n, line, isinstance(line, OverlongLine)) for n, line in numbered]


@PROPERTIES
@given(st.lists(pieces, max_size=60).map(b"".join), st.integers(1, 40), st.integers(1, 64))
def test_blocks_give_the_lines_a_text_file_gives(data: bytes, limit: int, size: int) -> None:
    assert by_blocks(data, limit, size) == by_text_file(data, limit)


def test_a_long_line_is_held_only_up_to_four_times_the_limit_in_bytes() -> None:
    data = b"a\n" + b"z" * 10_000 + b"\r\nb\n"
    blocks = list(read_blocks(io.BytesIO(data), limit=20, size=16))
    assert max(len(block.data) for block in blocks) <= 4 * 21 + 16
    assert by_blocks(data, 20, 16) == by_text_file(data, 20) == [
        (1, "a\n", False), (2, "z" * 21 + "\n", True), (3, "b\n", False)]


def test_an_empty_input_has_no_block() -> None:
    assert list(read_blocks(io.BytesIO(b""))) == []
    assert Block(1, b"x", 1).lines() == [(1, "x")]


def test_an_overlong_line_whose_carriage_return_ends_a_read_keeps_the_next_line() -> None:
    # Found by the property above in CI: the "\r" ending the overlong line was the last byte read before the line was
    # found too long, and the next line was taken for the rest of it.
    for data in (b"{}{}\xf0\x9f\x99\x82\r\r", b"{}{}\xf0\x9f\x99\x82\r\nb\n", b"{}{}\xf0\x9f\x99\x82\r\n\n"):
        for size in (1, 2, 3, 64):
            assert by_blocks(data, 1, size) == by_text_file(data, 1)
