"""Bounded JSON reading of untrusted bodies."""

from __future__ import annotations

from decimal import Decimal
import time

import pytest

from custom_components.gridflex.platforms._json import loads_bounded, nesting_depth
from custom_components.gridflex.platforms.errors import GridFlexResponseError


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"", 0),
        (b"1", 0),
        (b'"[[[{"', 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b"[[]] [[[]]]", 3),
        (b'["\\"[[["]', 1),  # an escaped quote does not end the string
        (b'["\\\\", [[]]]', 3),  # an escaped backslash does not escape the quote
        (b'["unterminated [[[[', 1),
        (b"]]]][", 0),  # unbalanced: refused by the parser later
        (b"[]][[", 1),
        ('["\u00e6\u00f8\u00e5[", ["\U0001f50c"]]'.encode(), 2),
    ],
)
def test_nesting_depth(raw: bytes, depth: int) -> None:
    """Brackets outside strings count; escapes are honoured."""
    assert nesting_depth(raw) == depth


def test_loads_bounded_numbers() -> None:
    """Fractions and exponents as exact Decimals, integers as ints."""
    assert loads_bounded(
        b'{"a": 0.1, "b": 7, "c": -2.50, "d": 1e400, "e": [true, null]}',
        max_bytes=100,
        max_depth=2,
    ) == {
        "a": Decimal("0.1"),
        "b": 7,
        "c": Decimal("-2.50"),
        "d": Decimal("1E+400"),
        "e": [True, None],
    }
    assert str(loads_bounded(b"-2.50", max_bytes=5, max_depth=0)) == "-2.50"


@pytest.mark.parametrize(
    ("raw", "max_bytes", "max_depth", "match"),
    [
        (b"[1]", 2, 5, "larger than the 2 allowed"),
        (b"[[1]]", 10, 1, "nested 2 levels deep"),
        (b"NaN", 10, 1, "not UTF-8 JSON"),
        (b"Infinity", 10, 1, "not UTF-8 JSON"),
        (b"\xff", 10, 1, "not UTF-8 JSON"),
        (b'"\xc3"', 10, 1, "not UTF-8 JSON"),
        (b"{'a': 1}", 10, 1, "not UTF-8 JSON"),
        (b"9" * 5000, 10_000, 1, "not UTF-8 JSON"),  # int too long to convert
        (b"1e999999999999999999999", 100, 1, "not UTF-8 JSON"),
        (b"", 10, 1, "not UTF-8 JSON"),
    ],
)
def test_loads_bounded_refused(
    raw: bytes, max_bytes: int, max_depth: int, match: str
) -> None:
    """Refusals are response errors, whatever went wrong."""
    with pytest.raises(GridFlexResponseError, match=match):
        loads_bounded(raw, max_bytes=max_bytes, max_depth=max_depth)


def test_loads_bounded_at_the_bounds() -> None:
    """Exactly at the size and depth limits is fine."""
    assert loads_bounded(b"[[1]]", max_bytes=5, max_depth=2) == [[1]]


def test_depth_scan_is_cheap() -> None:
    """A MiB of brackets or of escapes is scanned in well under a second."""
    bodies = [
        b"[]" * (1 << 19),
        b"[" * (1 << 20),
        b'"' + b"\\\\" * (1 << 19),
        b'["' + b'\\"[' * 300_000 + b'"]',
    ]
    for raw in bodies:
        started = time.perf_counter()
        depth = nesting_depth(raw)
        assert time.perf_counter() - started < 1.0
        assert depth <= 1 or raw.startswith(b"[[")
    with pytest.raises(GridFlexResponseError, match="deeper"):
        loads_bounded(b"[" * (1 << 20), max_bytes=1 << 20, max_depth=32)
