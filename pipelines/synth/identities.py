"""Fake but well-formed identifiers, generated in bulk (no Python loop per person).

- National Insurance numbers that pass the format rules (allowed letters, no unallocated
  prefix, suffix A-D). They are random: nothing is derived from a real person.
- NHS numbers in the range reserved for testing (999 000 0000 - 999 999 9999) with valid
  check digits.
- Names, ESR person numbers, e-mail addresses and postcodes for the ESR-style layout, so the
  submission tool has real identifiers to drop.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.errors import OwfError
from pipelines.standard.model import NI_UNALLOCATED_PREFIXES

TEST_RANGE_CAPACITY = 900_000
FIRST_LETTERS = np.array(list("ABCEGHJKLMNOPRSTWXYZ"))  # not D F I Q U V
SECOND_LETTERS = np.array(list("ABCEGHJKLMNPRSTWXYZ"))  # not D F I O Q U V
SUFFIXES = np.array(list("ABCD"))
_PREFIXES = np.array([a + b for a in FIRST_LETTERS for b in SECOND_LETTERS])
PREFIXES = _PREFIXES[~np.isin(_PREFIXES, list(NI_UNALLOCATED_PREFIXES))]

FIRST_NAMES = np.array(
    "Olivia Amelia Isla Ava Mia Grace Priya Aisha Fatima Chloe Emily Sophie Zara Hannah Ruth "
    "Joy Blessing Maria Anna Kate Oliver George Harry Jack Mohammed Arjun Tom James Daniel "
    "Samuel Kwame Lukas Adam Ben Chen Wei Ravi David Michael Peter".split()
)
LAST_NAMES = np.array(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Khan Ahmed Singh Evans "
    "Thomas Roberts Walker Wright Thompson White Hughes Edwards Green Hall Wood Harris Lewis "
    "Martin Jackson Clarke Okafor Mensah Nowak Kowalski Ali Begum Chowdhury Li Wang Murphy".split()
)
POSTCODE_AREAS = np.array(["WV", "SV", "WX", "QV"])  # fictional-looking areas, UK format
INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


def ni_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct NI numbers, normalised (upper case, no spaces)."""
    space = len(PREFIXES) * 1_000_000 * 4
    codes = np.unique(rng.integers(0, space, size=int(n * 1.02) + 16))
    while codes.size < n:  # vanishingly rare: top up
        codes = np.unique(np.concatenate([codes, rng.integers(0, space, size=n)]))
    codes = rng.permutation(codes)[:n]
    prefix = PREFIXES[codes // 4_000_000]
    digits = (codes // 4) % 1_000_000
    suffix = SUFFIXES[codes % 4]
    digit_text = pc.utf8_lpad(pa.array(digits).cast(pa.string()), 6, "0")
    return np.asarray(
        pc.binary_join_element_wise(pa.array(prefix), digit_text, pa.array(suffix), ""),
        dtype=object,
    )


def nhs_check_digit(first_nine: np.ndarray) -> np.ndarray:
    """Check digit of each row of nine digits (-1 where the number would be invalid)."""
    weights = np.arange(10, 1, -1)
    total = (first_nine * weights).sum(axis=1)
    check = 11 - (total % 11)
    check = np.where(check == 11, 0, check)
    return np.where(check == 10, -1, check)


def nhs_numbers_in_test_range(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct NHS numbers in the 999 test range with valid check digits, as 10 digits.

    The range holds about 909,000 valid numbers (six free digits, one check digit, about one
    in eleven invalid): enough for a region's ESR-style exports, not for a national one.
    """
    if n > TEST_RANGE_CAPACITY:
        raise OwfError(
            f"cannot make {n:,} distinct test-range NHS numbers: the 999 range holds about"
            f" {TEST_RANGE_CAPACITY:,}. Write the ESR-style layout for fewer people."
        )
    out: list[np.ndarray] = []
    have = 0
    seen = np.empty(0, dtype=np.int64)
    while have < n:
        batch = rng.integers(0, 1_000_000, size=int((n - have) * 1.15) + 16)
        digits = np.zeros((batch.size, 9), dtype=np.int64)
        digits[:, 0:3] = 9
        for i in range(6):
            digits[:, 3 + i] = (batch // 10 ** (5 - i)) % 10
        check = nhs_check_digit(digits)
        ok = check >= 0
        numbers = 9_990_000_000 + batch[ok] * 10 + check[ok]
        numbers = np.setdiff1d(np.unique(numbers), seen)
        seen = np.concatenate([seen, numbers])
        out.append(numbers)
        have += numbers.size
    allnums = rng.permutation(np.concatenate(out))[:n]
    return np.asarray(pa.array(allnums).cast(pa.string()), dtype=object)


def names(rng: np.random.Generator, n: int) -> np.ndarray:
    first = FIRST_NAMES[rng.integers(0, FIRST_NAMES.size, n)]
    last = LAST_NAMES[rng.integers(0, LAST_NAMES.size, n)]
    return np.asarray(
        pc.binary_join_element_wise(pc.utf8_upper(pa.array(last)), pa.array(first), ", "),
        dtype=object,
    )


def postcodes(rng: np.random.Generator, n: int) -> np.ndarray:
    area = POSTCODE_AREAS[rng.integers(0, POSTCODE_AREAS.size, n)]
    district = rng.integers(1, 30, n).astype(str)
    sector = rng.integers(0, 10, n).astype(str)
    l1 = INWARD_LETTERS[rng.integers(0, INWARD_LETTERS.size, n)]
    l2 = INWARD_LETTERS[rng.integers(0, INWARD_LETTERS.size, n)]
    outward = pc.binary_join_element_wise(pa.array(area), pa.array(district), "")
    inward = pc.binary_join_element_wise(pa.array(sector), pa.array(l1), pa.array(l2), "")
    return np.asarray(pc.binary_join_element_wise(outward, inward, " "), dtype=object)
