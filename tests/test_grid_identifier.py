"""Tests for the grid identifier validation and normalisation."""

from __future__ import annotations

import ast
from pathlib import Path
import random

import pytest

from custom_components.gridflex import grid_identifier
from custom_components.gridflex.grid_identifier import (
    COUNTRIES,
    REASONS,
    GridIdentifierError,
    example_for,
    normalize_grid_identifier,
)

# --- Independent reference implementations -----------------------------------
# Written differently from the module on purpose, and checked below against
# identifiers published as valid examples of each scheme.


def gs1_check_digit(body: str) -> str:
    """GS1 mod 10, computed from the left: weight 3 when the distance to the check digit is odd."""
    total = 0
    for position, char in enumerate(body):
        distance_to_check = len(body) - position
        total += int(char) * (3 if distance_to_check % 2 == 1 else 1)
    return str(-total % 10)


def mpan_check_digit(body: str) -> str:
    """MPAN core check digit."""
    primes = [3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43]
    total = 0
    for index in range(12):
        total += int(body[index]) * primes[index]
    return str(total % 11 % 10)


def cups_check_letters(digits: str) -> str:
    """CUPS check letters."""
    table = "TRWAGMYFPDXBNJZSQVHLCKE"
    remainder = int(digits) % 529
    return table[remainder // 23] + table[remainder - 23 * (remainder // 23)]


def with_gs1(body: str) -> str:
    return body + gs1_check_digit(body)


def with_mpan(body: str) -> str:
    return body + mpan_check_digit(body)


def with_cups(digits: str) -> str:
    return f"ES{digits}{cups_check_letters(digits)}"


def other_digit(digit: str) -> str:
    return str((int(digit) + 1) % 10)


def test_reference_check_digits_match_published_examples() -> None:
    # EAN-13 and GTIN-14 from the GS1 literature share the 18-digit algorithm.
    assert gs1_check_digit("400638133393") == "1"
    assert gs1_check_digit("629104150021") == "3"
    # The MPAN core 13 1234 5678 907 is a commonly quoted valid example.
    assert mpan_check_digit("131234567890") == "7"
    # Commonly quoted valid CUPS.
    assert cups_check_letters("0291000000000001") == "DN"
    assert cups_check_letters("1234123456789012") == "JY"


# --- Examples -----------------------------------------------------------------

BE_EAN = with_gs1("54144882004719362")  # 541448820047193626
NL_EAN = with_gs1("87168514000042017")  # 871685140000420178
LU_EAN = with_gs1("54300000021506418")  # 543000000215064189
NO_GSRN = with_gs1("70705750100034562")  # 707057501000345628
FR_PRM = "14295836710523"
GB_MPAN = with_mpan("120005023784")  # 1200050237846
GB_TOP_LINE = "01801100"
IE_MPRN = "10305584286"
IT_POD = "IT001E04352718"
ES_CUPS = with_cups("0031405981953001")  # ES0031405981953001BX


def test_hand_verified_examples() -> None:
    """The computed examples equal values worked out by hand."""
    assert BE_EAN == "541448820047193626"
    assert NL_EAN == "871685140000420178"
    assert LU_EAN == "543000000215064189"
    assert NO_GSRN == "707057501000345628"
    assert GB_MPAN == "1200050237846"
    assert ES_CUPS == "ES0031405981953001BX"


def reason_of(country: str, value: str) -> str:
    with pytest.raises(GridIdentifierError) as err:
        normalize_grid_identifier(country, value)
    return err.value.reason


# --- Public constants ---------------------------------------------------------


def test_countries() -> None:
    assert COUNTRIES == {
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


def test_reasons_are_the_config_flow_keys() -> None:
    assert set(REASONS) == {
        "invalid_length",
        "invalid_characters",
        "invalid_check_digit",
        "invalid_check_letters",
        "invalid_format",
        "unsupported_country",
    }


# --- example_for --------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("BE", BE_EAN),
        ("NL", NL_EAN),
        ("LU", LU_EAN),
        ("FR", FR_PRM),
        ("GB", GB_MPAN),
        ("IE", IE_MPRN),
        ("IT", IT_POD),
        ("ES", ES_CUPS),
        ("NO", NO_GSRN),
    ],
)
def test_example_for(country: str, expected: str) -> None:
    example = example_for(country)
    assert example == expected
    assert normalize_grid_identifier(country, example) == example


def test_example_for_covers_every_country() -> None:
    for country in COUNTRIES:
        example = example_for(country)
        assert normalize_grid_identifier(country, example) == example


def test_example_prefixes_look_real() -> None:
    assert example_for("BE").startswith("54")
    assert example_for("NL").startswith("871")
    assert example_for("NO").startswith("7070575")
    assert example_for("IE").startswith("10")


def test_example_for_normalises_the_country() -> None:
    assert example_for(" be ") == BE_EAN
    assert example_for("es") == ES_CUPS


@pytest.mark.parametrize("country", ["DE", "", "XX", "UK"])
def test_example_for_unsupported_country(country: str) -> None:
    with pytest.raises(GridIdentifierError) as err:
        example_for(country)
    assert err.value.reason == "unsupported_country"


# --- Errors and countries -----------------------------------------------------


@pytest.mark.parametrize("country", ["DE", "", "BEL", "U S"])
def test_unsupported_country(country: str) -> None:
    assert reason_of(country, BE_EAN) == "unsupported_country"


def test_country_is_case_and_space_insensitive() -> None:
    assert normalize_grid_identifier(" nl ", NL_EAN) == NL_EAN
    assert normalize_grid_identifier("Gb", GB_MPAN) == GB_MPAN


def test_error_is_a_value_error_with_a_message() -> None:
    with pytest.raises(ValueError, match="EAN has the wrong number") as err:
        normalize_grid_identifier("BE", "123")
    assert isinstance(err.value, GridIdentifierError)
    assert err.value.reason == "invalid_length"

    with pytest.raises(GridIdentifierError, match="grid identifier is for a country"):
        normalize_grid_identifier("DE", "123")


def test_error_with_an_unknown_reason_keeps_it() -> None:
    error = GridIdentifierError("something_else")
    assert error.reason == "something_else"
    assert "something_else" in str(error)


# --- Normalisation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "value", "expected"),
    [
        ("BE", "5414 4882 0047 1936 26", BE_EAN),
        ("BE", "541-448-820-047-193-626", BE_EAN),
        ("BE", "541.448.820.047.193.626", BE_EAN),
        ("BE", "  541448820047193626\n", BE_EAN),
        ("BE", "EAN 541448820047193626", BE_EAN),
        ("BE", "ean: 5414 4882 0047 1936 26", BE_EAN),
        ("NL", "EAN-code: 871685140000420178", NL_EAN),
        ("NL", "EAN-nummer 8716 8514 0000 4201 78", NL_EAN),
        ("LU", "EAN\t543000000215064189", LU_EAN),
        ("NO", "GSRN 707057501000345628", NO_GSRN),
        ("NO", "gsrn:7070 5750 1000 3456 28", NO_GSRN),
        ("NO", "EAN 707057501000345628", NO_GSRN),
        ("FR", "142 958 367 105 23", FR_PRM),
        ("FR", "PRM 14295836710523", FR_PRM),
        ("GB", "12 0005 0237 846", GB_MPAN),
        ("GB", "MPAN 1200050237846", GB_MPAN),
        ("IE", "10 305 584 286", IE_MPRN),
        ("IE", "MPRN: 10305584286", IE_MPRN),
        ("IT", "it 001 e 04352718", IT_POD),
        ("IT", "POD IT001E04352718", IT_POD),
        ("ES", "es0031 4059 8195 3001 bx", ES_CUPS),
        ("ES", "ES-0031-405981953001-BX", ES_CUPS),
        ("ES", "CUPS: ES0031405981953001BX", ES_CUPS),
    ],
)
def test_normalisation(country: str, value: str, expected: str) -> None:
    assert normalize_grid_identifier(country, value) == expected


def test_label_only_removed_once_and_at_the_start() -> None:
    assert reason_of("BE", "EANEAN541448820047193626") == "invalid_characters"
    assert reason_of("BE", "541448820047193626EAN") == "invalid_characters"


# --- EAN (BE, NL, LU) and GSRN (NO) -------------------------------------------

GS1_CASES = [("BE", BE_EAN), ("NL", NL_EAN), ("LU", LU_EAN), ("NO", NO_GSRN)]


@pytest.mark.parametrize(("country", "valid"), GS1_CASES)
def test_gs1_valid(country: str, valid: str) -> None:
    assert normalize_grid_identifier(country, valid) == valid


@pytest.mark.parametrize(("country", "valid"), GS1_CASES)
def test_gs1_invalid_characters(country: str, valid: str) -> None:
    assert reason_of(country, valid[:-1] + "A") == "invalid_characters"
    assert reason_of(country, "X" + valid) == "invalid_characters"
    assert reason_of(country, valid[:5] + "/" + valid[5:]) == "invalid_characters"
    # Non-ASCII digits are not digits of an EAN.
    assert reason_of(country, valid[:-1] + "\u0665") == "invalid_characters"
    # Letters are reported even when the length is wrong too.
    assert reason_of(country, "54ABC") == "invalid_characters"


@pytest.mark.parametrize(("country", "valid"), GS1_CASES)
def test_gs1_invalid_length(country: str, valid: str) -> None:
    assert reason_of(country, valid[:-1]) == "invalid_length"
    assert reason_of(country, valid + "0") == "invalid_length"
    assert reason_of(country, "") == "invalid_length"
    assert reason_of(country, " - . ") == "invalid_length"
    assert reason_of(country, "EAN") == "invalid_length"


@pytest.mark.parametrize(("country", "valid"), GS1_CASES)
def test_gs1_invalid_check_digit(country: str, valid: str) -> None:
    for digit in "0123456789":
        if digit != valid[-1]:
            assert reason_of(country, valid[:-1] + digit) == "invalid_check_digit"
    # Swapping two neighbouring digits is caught unless they differ by 0 or 5.
    index = next(
        i for i in range(17) if abs(int(valid[i]) - int(valid[i + 1])) not in (0, 5)
    )
    swapped = valid[:index] + valid[index + 1] + valid[index] + valid[index + 2 :]
    assert reason_of(country, swapped) == "invalid_check_digit"


@pytest.mark.parametrize("country", ["BE", "NL", "LU", "NO"])
def test_gs1_other_prefixes_are_accepted(country: str) -> None:
    assert normalize_grid_identifier(country, "123456789012345675") == (
        "123456789012345675"
    )
    assert normalize_grid_identifier(country, "0" * 18) == "0" * 18
    assert normalize_grid_identifier(country, NL_EAN) == NL_EAN


def test_gs1_agrees_with_reference_on_many_values() -> None:
    rng = random.Random(20260101)
    for _ in range(300):
        body = "".join(rng.choice("0123456789") for _ in range(17))
        valid = with_gs1(body)
        assert normalize_grid_identifier("BE", valid) == valid
        wrong = body + other_digit(valid[-1])
        assert reason_of("NO", wrong) == "invalid_check_digit"


# --- PRM (FR) -----------------------------------------------------------------


def test_prm_valid() -> None:
    assert normalize_grid_identifier("FR", FR_PRM) == FR_PRM
    # No check digit: any 14 digits are accepted.
    assert normalize_grid_identifier("FR", "00000000000001") == "00000000000001"


def test_prm_invalid_characters() -> None:
    assert reason_of("FR", "1429583671052A") == "invalid_characters"
    assert reason_of("FR", "FR14295836710523") == "invalid_characters"
    assert reason_of("FR", "14295836710523#") == "invalid_characters"


def test_prm_invalid_length() -> None:
    assert reason_of("FR", FR_PRM[:-1]) == "invalid_length"
    assert reason_of("FR", FR_PRM + "1") == "invalid_length"
    assert reason_of("FR", "") == "invalid_length"


# --- MPAN (GB) ----------------------------------------------------------------


def test_mpan_valid_core() -> None:
    assert normalize_grid_identifier("GB", GB_MPAN) == GB_MPAN
    assert normalize_grid_identifier("GB", "1312345678907") == "1312345678907"


@pytest.mark.parametrize(
    "value",
    [
        GB_TOP_LINE + GB_MPAN,
        "S" + GB_TOP_LINE + GB_MPAN,
        "S 01 801 100 12 0005 0237 846",
        "s 01-801-100 12-0005-0237-846",
        "MPAN S 01 801 100 12 0005 0237 846",
        # The line loss factor class may contain letters.
        "S 05 845 A1Z 12 0005 0237 846",
    ],
)
def test_mpan_full_number_is_normalised_to_the_core(value: str) -> None:
    assert normalize_grid_identifier("GB", value) == GB_MPAN


def test_mpan_s_label_on_the_core() -> None:
    assert normalize_grid_identifier("GB", "S 1200050237846") == GB_MPAN


def test_mpan_invalid_characters() -> None:
    assert reason_of("GB", "12000502378A6") == "invalid_characters"
    assert reason_of("GB", "1200050237846#") == "invalid_characters"
    # Letters in the core of a full MPAN.
    assert reason_of("GB", GB_TOP_LINE + "12000502378A6") == "invalid_characters"
    # Punctuation in the top line of a full MPAN.
    assert reason_of("GB", "01801#00" + GB_MPAN) == "invalid_characters"
    assert reason_of("GB", "ABC") == "invalid_characters"


def test_mpan_invalid_length() -> None:
    assert reason_of("GB", GB_MPAN[:-1]) == "invalid_length"
    assert reason_of("GB", GB_MPAN + "0") == "invalid_length"
    assert reason_of("GB", GB_TOP_LINE[:-1] + GB_MPAN) == "invalid_length"
    assert reason_of("GB", GB_TOP_LINE + GB_MPAN + "0") == "invalid_length"
    assert reason_of("GB", "") == "invalid_length"
    assert reason_of("GB", "S") == "invalid_length"


def test_mpan_invalid_format_of_the_top_line() -> None:
    # Profile class and meter time-switch code are digits.
    assert reason_of("GB", "A1801100" + GB_MPAN) == "invalid_format"
    assert reason_of("GB", "0180X100" + GB_MPAN) == "invalid_format"


def test_mpan_invalid_check_digit() -> None:
    for digit in "0123456789":
        if digit != GB_MPAN[-1]:
            wrong = GB_MPAN[:-1] + digit
            assert reason_of("GB", wrong) == "invalid_check_digit"
            assert reason_of("GB", GB_TOP_LINE + wrong) == "invalid_check_digit"


def test_mpan_agrees_with_reference_on_many_values() -> None:
    rng = random.Random(4242)
    for _ in range(300):
        body = "".join(rng.choice("0123456789") for _ in range(12))
        valid = with_mpan(body)
        assert normalize_grid_identifier("GB", valid) == valid
        assert normalize_grid_identifier("GB", GB_TOP_LINE + valid) == valid
        wrong = body + other_digit(valid[-1])
        assert reason_of("GB", wrong) == "invalid_check_digit"


# --- MPRN (IE) ----------------------------------------------------------------


def test_mprn_valid() -> None:
    assert normalize_grid_identifier("IE", IE_MPRN) == IE_MPRN
    assert normalize_grid_identifier("IE", "10000000000") == "10000000000"


def test_mprn_invalid_characters() -> None:
    assert reason_of("IE", "1030558428A") == "invalid_characters"
    assert reason_of("IE", "IE10305584286") == "invalid_characters"


def test_mprn_invalid_length() -> None:
    assert reason_of("IE", IE_MPRN[:-1]) == "invalid_length"
    assert reason_of("IE", IE_MPRN + "0") == "invalid_length"
    assert reason_of("IE", "") == "invalid_length"


@pytest.mark.parametrize("value", ["20305584286", "11305584286", "01305584286"])
def test_mprn_invalid_format(value: str) -> None:
    # Electricity MPRNs start with 10.
    assert reason_of("IE", value) == "invalid_format"


# --- POD (IT) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (IT_POD, IT_POD),
        ("IT001E04352718A", "IT001E04352718A"),
        ("it012e00123456", "IT012E00123456"),
        ("IT 001 E 0435 2718 b", "IT001E04352718B"),
    ],
)
def test_pod_valid(value: str, expected: str) -> None:
    assert normalize_grid_identifier("IT", value) == expected


def test_pod_invalid_characters() -> None:
    assert reason_of("IT", "IT001E0435271#") == "invalid_characters"
    assert reason_of("IT", "IT001E04352718_") == "invalid_characters"
    assert reason_of("IT", "IT001\u00c904352718") == "invalid_characters"


@pytest.mark.parametrize(
    "value", ["", "IT001E0435271", "IT001E04352718AB", "IT001E043527180000", "IT"]
)
def test_pod_invalid_length(value: str) -> None:
    assert reason_of("IT", value) == "invalid_length"


@pytest.mark.parametrize(
    "value",
    [
        "FR001E04352718",  # wrong country prefix
        "IT001X04352718",  # E marks electricity
        "IT0A1E04352718",  # distributor code is three digits
        "IT001E0435271A",  # eight digits after the E
        "IT001E043527181",  # the optional suffix is a letter
        "IT0012E0435271",  # E in the wrong place
        "ITA01E04352718B",
    ],
)
def test_pod_invalid_format(value: str) -> None:
    assert reason_of("IT", value) == "invalid_format"


# --- CUPS (ES) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ES_CUPS, ES_CUPS),
        (ES_CUPS + "0F", ES_CUPS + "0F"),
        (ES_CUPS + "1p", ES_CUPS + "1P"),
        *[(f"{ES_CUPS}2{letter}", f"{ES_CUPS}2{letter}") for letter in "FPRCXYZ"],
        ("ES0291000000000001DN0F", "ES0291000000000001DN0F"),
        ("ES 1234 1234 5678 9012 JY 1F", "ES1234123456789012JY1F"),
    ],
)
def test_cups_valid(value: str, expected: str) -> None:
    assert normalize_grid_identifier("ES", value) == expected


def test_cups_invalid_characters() -> None:
    assert reason_of("ES", ES_CUPS[:-1] + "_") == "invalid_characters"
    assert reason_of("ES", ES_CUPS[:-1] + "\u00d1") == "invalid_characters"
    assert reason_of("ES", ES_CUPS + "0#") == "invalid_characters"


@pytest.mark.parametrize(
    "value",
    ["", "ES", ES_CUPS[:-1], ES_CUPS + "0", ES_CUPS + "0F1", "ES0031405981953001"],
)
def test_cups_invalid_length(value: str) -> None:
    assert reason_of("ES", value) == "invalid_length"


@pytest.mark.parametrize(
    "value",
    [
        "PT0031405981953001BX",  # wrong country prefix
        "ES00314059819530A1BX",  # letter among the 16 digits
        "ES00314059819530011B",  # digit among the check letters
        "ES003140598195300111",
        "ES0031405981953001BX1Q",  # Q is not a border-point type
        "ES0031405981953001BXF0",  # digit then letter
        "ES0031405981953001BX00",
        "ES0031A05981953001BX0F",
    ],
)
def test_cups_invalid_format(value: str) -> None:
    assert reason_of("ES", value) == "invalid_format"


@pytest.mark.parametrize(
    "value",
    [
        "ES0031405981953001XB",  # swapped
        "ES0031405981953001BY",
        "ES0031405981953001AX",
        "ES0031405981953001BX0F".replace("BX", "OX"),  # O is never a check letter
        "ES0291000000000001DX0F",
        "ES1234123456789012XY",
        "ES1234123456789012JY1F".replace("1234123", "1234124"),
    ],
)
def test_cups_invalid_check_letters(value: str) -> None:
    assert reason_of("ES", value) == "invalid_check_letters"


def test_cups_agrees_with_reference_on_many_values() -> None:
    rng = random.Random(529)
    for _ in range(300):
        digits = "".join(rng.choice("0123456789") for _ in range(16))
        valid = with_cups(digits)
        assert normalize_grid_identifier("ES", valid) == valid
        assert normalize_grid_identifier("ES", valid + "0F") == valid + "0F"
        wrong = valid[:-1] + ("T" if valid[-1] != "T" else "R")
        assert reason_of("ES", wrong) == "invalid_check_letters"


# --- Independence from Home Assistant ----------------------------------------


def test_module_does_not_import_home_assistant() -> None:
    source = Path(grid_identifier.__file__).read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {"__future__", "re", "typing"}
