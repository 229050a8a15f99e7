"""Validate and normalise a site's grid identifier (its meter point code) by country.

Each country names its connection points with its own scheme: an 18-digit EAN
in Belgium, the Netherlands and Luxembourg, a GSRN in Norway, a PRM in France,
an MPAN in Great Britain, an MPRN in Ireland, a POD in Italy and a CUPS in
Spain. :func:`normalize_grid_identifier` turns what a user typed (or copied from
an energy bill) into the canonical form of that scheme, or raises
:class:`GridIdentifierError` whose ``reason`` says what is wrong with it.

This module is pure Python on purpose: it does not depend on Home Assistant, so
the config flow, the platform clients and the tests can all use it.
"""

from __future__ import annotations

import re
from typing import Final

COUNTRIES: Final[dict[str, str]] = {
    "BE": "EAN",
    "NL": "EAN",
    "LU": "EAN",
    "FR": "PRM",
    "GB": "MPAN",
    "IE": "MPRN",
    "IT": "POD",
    "ES": "CUPS",
    "NO": "GSRN",
}
"""ISO 3166-1 alpha-2 country code -> name of its grid identifier scheme."""

REASON_INVALID_LENGTH: Final = "invalid_length"
REASON_INVALID_CHARACTERS: Final = "invalid_characters"
REASON_INVALID_CHECK_DIGIT: Final = "invalid_check_digit"
REASON_INVALID_CHECK_LETTERS: Final = "invalid_check_letters"
REASON_INVALID_FORMAT: Final = "invalid_format"
REASON_UNSUPPORTED_COUNTRY: Final = "unsupported_country"

REASONS: Final[tuple[str, ...]] = (
    REASON_INVALID_LENGTH,
    REASON_INVALID_CHARACTERS,
    REASON_INVALID_CHECK_DIGIT,
    REASON_INVALID_CHECK_LETTERS,
    REASON_INVALID_FORMAT,
    REASON_UNSUPPORTED_COUNTRY,
)
"""Every value of :attr:`GridIdentifierError.reason` (config flow error keys)."""

_EXAMPLES: Final[dict[str, str]] = {
    "BE": "541448820047193626",
    "NL": "871685140000420178",
    "LU": "543000000215064189",
    "FR": "14295836710523",
    "GB": "1200050237846",
    "IE": "10305584286",
    "IT": "IT001E04352718",
    "ES": "ES0031405981953001BX",
    "NO": "707057501000345628",
}

_MESSAGES: Final[dict[str, str]] = {
    REASON_INVALID_LENGTH: "has the wrong number of characters",
    REASON_INVALID_CHARACTERS: "contains characters that are not allowed",
    REASON_INVALID_CHECK_DIGIT: "has a check digit that does not match",
    REASON_INVALID_CHECK_LETTERS: "has check letters that do not match",
    REASON_INVALID_FORMAT: "does not have the expected format",
    REASON_UNSUPPORTED_COUNTRY: "is for a country that is not supported",
}

# Separators people type or copy from a bill: whitespace, dashes and dots.
_SEPARATORS: Final = re.compile(r"[\s.\-]+")
# A leading scheme label ("EAN", "GSRN", ...), optionally "EAN-code:" and the like.
_LABEL: Final = re.compile(
    r"^(?:EAN|GSRN|MPAN|MPRN|PRM|POD|CUPS)(?:CODE|NUMBER|NUMMER)?:?"
)
_DIGITS: Final = re.compile(r"[0-9]+")
_ALNUM: Final = re.compile(r"[0-9A-Z]+")

_EAN_LENGTH: Final = 18
_PRM_LENGTH: Final = 14
_MPRN_LENGTH: Final = 11
_MPRN_ELECTRICITY_PREFIX: Final = "10"
_MPAN_CORE_LENGTH: Final = 13
_MPAN_FULL_LENGTH: Final = 21
_MPAN_TOP_LINE: Final = re.compile(r"[0-9]{5}[0-9A-Z]{3}")
_MPAN_WEIGHTS: Final = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
_POD_LENGTHS: Final = (14, 15)
_POD: Final = re.compile(r"IT[0-9]{3}E[0-9]{8}[A-Z]?")
_CUPS_LENGTHS: Final = (20, 22)
_CUPS: Final = re.compile(r"ES([0-9]{16})([A-Z]{2})(?:[0-9][FPRCXYZ])?")
_CUPS_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"


class GridIdentifierError(ValueError):
    """A grid identifier is not valid for its country.

    ``reason`` is one of :data:`REASONS`; the config flow uses it as its error key.
    """

    def __init__(self, reason: str, scheme: str | None = None) -> None:
        """Store the reason and build a readable message."""
        self.reason = reason
        subject = f"The {scheme}" if scheme else "The grid identifier"
        super().__init__(f"{subject} {_MESSAGES.get(reason, reason)}")


def _country_scheme(country: str) -> tuple[str, str]:
    """Return the normalised country code and its scheme, or raise."""
    code = country.strip().upper()
    scheme = COUNTRIES.get(code)
    if scheme is None:
        raise GridIdentifierError(REASON_UNSUPPORTED_COUNTRY)
    return code, scheme


def _clean(value: str) -> str:
    """Drop separators, uppercase and remove a leading scheme label."""
    return _LABEL.sub("", _SEPARATORS.sub("", value).upper(), count=1)


def _require_digits(value: str, length: int, scheme: str) -> None:
    """Raise unless ``value`` is exactly ``length`` ASCII digits."""
    if value and not _DIGITS.fullmatch(value):
        raise GridIdentifierError(REASON_INVALID_CHARACTERS, scheme)
    if len(value) != length:
        raise GridIdentifierError(REASON_INVALID_LENGTH, scheme)


def _require_alnum(value: str, lengths: tuple[int, ...], scheme: str) -> None:
    """Raise unless ``value`` is ASCII letters and digits of one of ``lengths``."""
    if value and not _ALNUM.fullmatch(value):
        raise GridIdentifierError(REASON_INVALID_CHARACTERS, scheme)
    if len(value) not in lengths:
        raise GridIdentifierError(REASON_INVALID_LENGTH, scheme)


def _gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit: weights 3, 1, 3, ... from the right."""
    total = sum(
        int(digit) * (3 if index % 2 == 0 else 1)
        for index, digit in enumerate(reversed(body))
    )
    return (10 - total % 10) % 10


def _mpan_check_digit(body: str) -> int:
    """MPAN core check digit: prime-weighted sum of 12 digits, mod 11, mod 10."""
    total = sum(
        int(digit) * weight for digit, weight in zip(body, _MPAN_WEIGHTS, strict=True)
    )
    return total % 11 % 10


def _cups_check_letters(digits: str) -> str:
    """CUPS check letters of its 16 digits."""
    quotient, remainder = divmod(int(digits) % 529, 23)
    return _CUPS_LETTERS[quotient] + _CUPS_LETTERS[remainder]


def _validate_gs1(value: str, scheme: str) -> str:
    _require_digits(value, _EAN_LENGTH, scheme)
    if _gs1_check_digit(value[:-1]) != int(value[-1]):
        raise GridIdentifierError(REASON_INVALID_CHECK_DIGIT, scheme)
    return value


def _validate_prm(value: str, scheme: str) -> str:
    _require_digits(value, _PRM_LENGTH, scheme)
    return value


def _validate_mpan(value: str, scheme: str) -> str:
    # The full MPAN is printed in a box labelled "S"; drop that label.
    core = value.removeprefix("S")
    if len(core) == _MPAN_FULL_LENGTH:
        top_line, core = core[:-_MPAN_CORE_LENGTH], core[-_MPAN_CORE_LENGTH:]
        if not _ALNUM.fullmatch(top_line):
            raise GridIdentifierError(REASON_INVALID_CHARACTERS, scheme)
        if not _MPAN_TOP_LINE.fullmatch(top_line):
            raise GridIdentifierError(REASON_INVALID_FORMAT, scheme)
    _require_digits(core, _MPAN_CORE_LENGTH, scheme)
    if _mpan_check_digit(core[:-1]) != int(core[-1]):
        raise GridIdentifierError(REASON_INVALID_CHECK_DIGIT, scheme)
    return core


def _validate_mprn(value: str, scheme: str) -> str:
    _require_digits(value, _MPRN_LENGTH, scheme)
    if not value.startswith(_MPRN_ELECTRICITY_PREFIX):
        raise GridIdentifierError(REASON_INVALID_FORMAT, scheme)
    return value


def _validate_pod(value: str, scheme: str) -> str:
    _require_alnum(value, _POD_LENGTHS, scheme)
    if not _POD.fullmatch(value):
        raise GridIdentifierError(REASON_INVALID_FORMAT, scheme)
    return value


def _validate_cups(value: str, scheme: str) -> str:
    _require_alnum(value, _CUPS_LENGTHS, scheme)
    match = _CUPS.fullmatch(value)
    if match is None:
        raise GridIdentifierError(REASON_INVALID_FORMAT, scheme)
    digits, letters = match.groups()
    if _cups_check_letters(digits) != letters:
        raise GridIdentifierError(REASON_INVALID_CHECK_LETTERS, scheme)
    return value


_VALIDATORS: Final = {
    "EAN": _validate_gs1,
    "GSRN": _validate_gs1,
    "PRM": _validate_prm,
    "MPAN": _validate_mpan,
    "MPRN": _validate_mprn,
    "POD": _validate_pod,
    "CUPS": _validate_cups,
}


def normalize_grid_identifier(country: str, value: str) -> str:
    """Return ``value`` as the canonical grid identifier for ``country``.

    Spaces, dashes and dots are removed, letters are uppercased and a leading
    scheme label such as ``EAN`` or ``GSRN`` is dropped; a full 21-character
    MPAN becomes its 13-digit core. Raises :class:`GridIdentifierError` when the
    result is not a valid identifier for the country.
    """
    _, scheme = _country_scheme(country)
    return _VALIDATORS[scheme](_clean(value), scheme)


def example_for(country: str) -> str:
    """Return a valid example grid identifier for ``country`` (a UI placeholder)."""
    code, _ = _country_scheme(country)
    return _EXAMPLES[code]
