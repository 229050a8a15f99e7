"""JSON from untrusted bytes, with its size and nesting bounded before parsing.

``json.loads`` recurses once per nesting level and reads every number it is
given, so a hostile body can cost a ``RecursionError`` or much time before
anything checks it. ``loads_bounded`` refuses a body that is too large, or
nested too deeply, from a cheap scan of the raw bytes first, and only then
parses it: numbers with a fraction or exponent as exact ``Decimal`` values,
``NaN`` and ``Infinity`` (not JSON) refused.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import accumulate
import json
import re
from typing import Any, Final

from .errors import GridFlexResponseError

_STRING: Final = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\Z)', re.DOTALL)
"""A JSON string (escapes honoured), or an unterminated one up to the end.

The bytes of a multi-byte UTF-8 character are all >= 0x80, so they can never
be taken for a quote, a backslash or a bracket.
"""

_NOT_BRACKETS: Final = bytes(byte for byte in range(256) if byte not in b"[]{}")
_DEPTH_STEP: Final = tuple(
    1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256)
)


def nesting_depth(raw: bytes) -> int:
    """Return how deeply the arrays and objects in the JSON text ``raw`` nest.

    Brackets inside strings do not count. Text that is not JSON gets a
    number too (unbalanced brackets are simply counted); the parser refuses
    it afterwards.
    """
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets), initial=0))


def loads_bounded(raw: bytes, *, max_bytes: int, max_depth: int) -> Any:
    """Parse the UTF-8 JSON ``raw``, refusing it when too large or too deep.

    Numbers with a fraction or an exponent are read as ``Decimal`` (every
    digit kept), integers as ``int``.

    Raises:
        GridFlexResponseError: ``raw`` is longer than ``max_bytes``, nests
            arrays and objects deeper than ``max_depth``, is not UTF-8, or
            is not JSON (``NaN`` and ``Infinity`` included).

    """
    if len(raw) > max_bytes:
        raise GridFlexResponseError(
            f"A JSON body of {len(raw)} bytes is larger than the {max_bytes} allowed"
        )
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise GridFlexResponseError(
            f"A JSON body nested {depth} levels deep is deeper than the "
            f"{max_depth} allowed"
        )
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, ArithmeticError, RecursionError) as err:
        # UnicodeDecodeError and JSONDecodeError are ValueErrors, as is an
        # integer too long to convert; decimal.InvalidOperation an ArithmeticError.
        raise GridFlexResponseError(
            f"A body that is not UTF-8 JSON ({type(err).__name__})"
        ) from err


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
