"""Validation and normalisation of the identifiers that get pseudonymised.

Normalising before pseudonymising is what makes "ab 12 34 56 c" and "AB123456C" the same
person at the hub: HMAC is exact, so two spellings of one identifier would otherwise become
two unrelated pseudonyms and the person would be counted twice.

These functions are pure (no I/O, no keys) and never echo the value they are given, so they
are safe to call on real identifiers.
"""

from __future__ import annotations

import re
from functools import cache

# Ten ASCII digits, optionally grouped 3-3-4 with one kind of separator (space or hyphen).
# [0-9] rather than \d: \d also matches non-ASCII digits such as Arabic-Indic ones.
_NHS_NUMBER = re.compile(r"[0-9]{3}([ -]?)[0-9]{3}\1[0-9]{4}")
_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
# NHS numbers 999 000 0000 to 999 999 9999 are reserved for testing and never issued.
_NHS_TEST_RANGE_PREFIX = "999"


@cache
def _ni_rules() -> tuple[re.Pattern[str], frozenset[str]]:
    """The standard's NI number rules, compiled once.

    Imported here rather than at the top of the module: pipelines.standard.model loads yaml
    and jsonschema, and pipelines.crypto must import with only the standard library,
    cryptography and pyarrow. The constants stay defined in one place, the standard.
    """
    from pipelines.standard.model import NI_NUMBER_PATTERN, NI_UNALLOCATED_PREFIXES

    return re.compile(NI_NUMBER_PATTERN), frozenset(NI_UNALLOCATED_PREFIXES)


def normalise_ni(value: str) -> str:
    """A National Insurance number in upper case with all whitespace removed.

    This is the form that is pseudonymised, so every spelling of one number gives one
    pseudonym. It does not validate: call `is_valid_ni` for that.
    """
    return "".join(value.split()).upper()


def is_valid_ni(value: str) -> bool:
    """Whether `value`, once normalised, is a National Insurance number the standard accepts.

    Two prefix letters (first not D, F, I, Q, U or V; second not D, F, I, O, Q, U or V),
    six digits and a suffix A to D, and not one of the prefixes that are never allocated
    (BG, GB, NK, KN, TN, NT, ZZ). Non-ASCII input is refused outright, so that a character
    which merely upper-cases to a Latin letter (such as the long s) cannot pass.
    """
    if not isinstance(value, str) or not value.isascii():
        return False
    pattern, unallocated = _ni_rules()
    ni = normalise_ni(value)
    return pattern.fullmatch(ni) is not None and ni[:2] not in unallocated


def nhs_check_digit(nine_digits: str) -> int | None:
    """The modulus 11 check digit of the first nine digits of an NHS number.

    Each digit is multiplied by 10, 9, ..., 2, the products are summed, and the check digit
    is 11 minus the remainder of the sum divided by 11; 11 becomes 0. A result of 10 means no
    NHS number can start with these nine digits, and is returned as None.
    """
    if len(nine_digits) != 9 or not (nine_digits.isascii() and nine_digits.isdigit()):
        raise ValueError("nhs_check_digit needs exactly nine ASCII digits")
    total = sum(int(d) * w for d, w in zip(nine_digits, _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def _nhs_digits(value: str) -> str | None:
    """The ten digits of a well-formed NHS number, or None if it is not well formed."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _NHS_NUMBER.fullmatch(text) is None:
        return None
    return text.replace(" ", "").replace("-", "")


def is_valid_nhs_number(value: str) -> bool:
    """Whether `value` is an NHS number: ten digits (3-3-4 grouping by spaces or hyphens
    allowed) whose last digit is the modulus 11 check digit of the first nine."""
    digits = _nhs_digits(value)
    if digits is None:
        return False
    return nhs_check_digit(digits[:9]) == int(digits[9])


def is_test_range_nhs_number(value: str) -> bool:
    """Whether `value` is a valid NHS number in the range reserved for testing
    (999 000 0000 to 999 999 9999).

    Such numbers are never issued to a patient, so test data and demos can use them safely;
    finding one in a live extract means test records leaked into production.
    """
    return is_valid_nhs_number(value) and _nhs_digits(value).startswith(_NHS_TEST_RANGE_PREFIX)
