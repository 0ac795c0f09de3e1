"""NI and NHS number validation: known answers, every excluded letter and unallocated prefix.

The expected results are written out here from the rules themselves (the letters the rules
exclude, the check-digit arithmetic done by hand in the comments), not recomputed with the
code under test. Every number is made up; none is known to belong to a person.
"""

from __future__ import annotations

import string

import pytest

from pipelines.crypto.identifiers import (
    is_test_range_nhs_number,
    is_valid_nhs_number,
    is_valid_ni,
    nhs_check_digit,
    normalise_ni,
)

EXCLUDED_FIRST = "DFIQUV"
EXCLUDED_SECOND = "DFIOQUV"
UNALLOCATED = ["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"]

# --- NI numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ("AB123456C", "AB123456C"),
        ("ab 12 34 56 c", "AB123456C"),
        (" ab\t12\n34 56\u00a0c ", "AB123456C"),
        ("", ""),
    ],
)
def test_normalise_ni_upper_cases_and_removes_all_whitespace(value, expected):
    assert normalise_ni(value) == expected


@pytest.mark.parametrize(
    "value",
    ["AB123456C", "ab 12 34 56 c", "CE654321A", "JK111111B", "LM222222D", "OA000000A", "ZY999999D"],
)
def test_is_valid_ni_accepts_well_formed_numbers(value):
    assert is_valid_ni(value)


@pytest.mark.parametrize("letter", list(EXCLUDED_FIRST))
def test_is_valid_ni_rejects_excluded_first_letter(letter):
    assert not is_valid_ni(f"{letter}A123456A")


@pytest.mark.parametrize("letter", [c for c in string.ascii_uppercase if c not in EXCLUDED_FIRST])
def test_is_valid_ni_accepts_every_other_first_letter(letter):
    assert is_valid_ni(f"{letter}A123456A")


@pytest.mark.parametrize("letter", list(EXCLUDED_SECOND))
def test_is_valid_ni_rejects_excluded_second_letter(letter):
    assert not is_valid_ni(f"A{letter}123456A")


@pytest.mark.parametrize("letter", [c for c in string.ascii_uppercase if c not in EXCLUDED_SECOND])
def test_is_valid_ni_accepts_every_other_second_letter(letter):
    assert is_valid_ni(f"A{letter}123456A")


@pytest.mark.parametrize("prefix", UNALLOCATED)
def test_is_valid_ni_rejects_unallocated_prefix(prefix):
    # Each of these prefixes passes the letter rules; only the unallocated list rejects it.
    assert prefix[0] not in EXCLUDED_FIRST and prefix[1] not in EXCLUDED_SECOND
    assert not is_valid_ni(f"{prefix}123456A")
    assert not is_valid_ni(f"{prefix.lower()} 12 34 56 a")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "AB123456",  # no suffix
        "AB123456E",  # suffix beyond D
        "AB12345C",  # five digits
        "AB1234567C",  # seven digits
        "A1123456C",  # digit for a letter
        "AB12A456C",  # letter for a digit
        "AB123456CC",
        "AB\uff11\uff12\uff13\uff14\uff15\uff16C",  # full-width digits
        "A\u017f123456C",  # long s, which upper-cases to S
    ],
)
def test_is_valid_ni_rejects_malformed_values(value):
    assert not is_valid_ni(value)


def test_is_valid_ni_rejects_non_string_without_raising():
    assert not is_valid_ni(None)  # type: ignore[arg-type]


# --- NHS numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nine,expected",
    [
        # 9*10+4*9+3*8+4*7+7*6+6*5+5*4+9*3+1*2 = 299; 299 mod 11 = 2; 11-2 = 9
        ("943476591", 9),
        # 4*10+0+1*8+0+2*6+3*5+2*4+1*3+3*2 = 92; 92 mod 11 = 4; 11-4 = 7
        ("401023213", 7),
        # 1*6+1*5 = 11; 11 mod 11 = 0; 11-0 = 11, which becomes 0
        ("000011000", 0),
        ("000000000", 0),
        # 9*10+9*9+9*8+1*2 = 245; 245 mod 11 = 3; 11-3 = 8
        ("999000001", 8),
        # 1*10+2*9+3*8+4*7+5*6+6*5+7*4+8*3+9*2 = 210; 210 mod 11 = 1; 11-1 = 10: invalid
        ("123456789", None),
        # 1*10 = 10; 10 mod 11 = 10; 11-10 = 1
        ("100000000", 1),
        # 1*10+1*2 = 12; 12 mod 11 = 1; 11-1 = 10: invalid
        ("100000001", None),
    ],
)
def test_nhs_check_digit_known_answers(nine, expected):
    assert nhs_check_digit(nine) == expected


@pytest.mark.parametrize("bad", ["12345678", "1234567890", "12345678a", "", "\uff11" * 9])
def test_nhs_check_digit_refuses_anything_but_nine_ascii_digits(bad):
    with pytest.raises(ValueError):
        nhs_check_digit(bad)


@pytest.mark.parametrize(
    "value",
    [
        "9434765919",
        "943 476 5919",
        "943-476-5919",
        " 943 476 5919 ",
        "4010232137",
        "0000110000",
        "1000000001",
    ],
)
def test_is_valid_nhs_number_accepts_known_valid_numbers(value):
    assert is_valid_nhs_number(value)


@pytest.mark.parametrize("last", list(string.digits))
def test_is_valid_nhs_number_rejects_every_number_whose_check_digit_would_be_10(last):
    assert not is_valid_nhs_number(f"123456789{last}")
    assert not is_valid_nhs_number(f"100 000 001{last}")


@pytest.mark.parametrize(
    "value",
    [
        "9434765918",  # wrong check digit
        "9434765910",
        "943 476-5919",  # mixed separators
        "9434 76 5919",  # not 3-3-4
        "943  476  5919",  # double spaces
        "943476591",  # nine digits
        "94347659190",  # eleven digits
        "943476591X",
        "",
        "\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19",  # full-width digits
    ],
)
def test_is_valid_nhs_number_rejects_malformed_or_wrong_check_digit(value):
    assert not is_valid_nhs_number(value)


def test_is_valid_nhs_number_rejects_non_string_without_raising():
    assert not is_valid_nhs_number(9434765919)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["9990000018", "999 000 0026", "999-999-9999"])
def test_is_test_range_nhs_number_true_for_valid_numbers_from_999(value):
    assert is_test_range_nhs_number(value)


@pytest.mark.parametrize(
    "value",
    [
        "9434765919",  # valid, outside the range
        "9990000011",  # in the range, wrong check digit
        "9980000000",  # just below the range (and not a valid number either)
        "999000001",  # too short
    ],
)
def test_is_test_range_nhs_number_false_outside_range_or_invalid(value):
    assert not is_test_range_nhs_number(value)
