"""The disclosure cache's own rules (pipelines.publish.carry); the publications it makes are
compared with publications made afresh in tests/integration/test_publish.py."""

from __future__ import annotations

import dataclasses

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.publish.carry import Carry, by_period
from pipelines.publish.disclosure import SUPPRESSED_COLUMN, Additive, Follow, Policy, TableSpec

SPEC = TableSpec(
    counts=("headcount",),
    magnitudes=("fte",),
    additive=(Additive(("headcount", "fte"), ("period", "staff_group"), "org_code", {}),),
)


def test_a_spec_is_controlled_by_period_only_when_every_relation_names_the_period():
    assert by_period(SPEC)
    assert by_period(TableSpec(counts=("headcount",)))  # no relation at all
    across_periods = Additive(("headcount",), ("staff_group",), "period", {})
    assert not by_period(dataclasses.replace(SPEC, additive=(across_periods,)))
    follow = Follow("other", {}, ("period", "org_code"), {"rate": ("headcount",)})
    assert by_period(dataclasses.replace(SPEC, follows=(follow,)))
    assert not by_period(
        dataclasses.replace(SPEC, follows=(dataclasses.replace(follow, by=("org_code",)),))
    )
    renamed = dataclasses.replace(follow, columns={"period": "census"})
    assert not by_period(dataclasses.replace(SPEC, follows=(renamed,)))
    assert not by_period(dataclasses.replace(SPEC, copies_of=("org_code",)))


def _cells() -> dict[str, np.ndarray]:
    return {
        "headcount": np.array([10.0, np.nan, 0.0]),
        "fte": np.array([9.5, np.nan, 0.0]),
        SUPPRESSED_COLUMN: np.array(["", "headcount,fte", ""], dtype=object),
    }


@pytest.fixture
def carry(tmp_path):
    with duckdb.connect() as con:
        yield Carry(tmp_path / "cache", con, {"RW1": Policy(7, 5)}, Policy())


KEY = "a" * 64


def test_an_entry_comes_back_as_stored_and_only_under_its_key(carry):
    carry.store("workforce_in_post", "2026-09", KEY, _cells())
    got = carry.load("workforce_in_post", "2026-09", KEY, SPEC, 3)
    assert set(got) == set(_cells())
    for name, values in _cells().items():
        np.testing.assert_array_equal(got[name], values)
    assert carry.load("workforce_in_post", "2026-09", "b" * 64, SPEC, 3) is None
    assert carry.load("workforce_in_post", "2026-08", KEY, SPEC, 3) is None
    assert carry.load("workforce_in_post", "2026-09", KEY, SPEC, 4) is None  # not its rows
    assert carry.summary() == {"months_controlled": 1, "months_carried_forward": 1}
    assert oct(carry.folder.stat().st_mode & 0o777) == "0o700"


def test_a_damaged_entry_is_not_used(carry):
    carry.store("workforce_in_post", "2026-09", KEY, _cells())
    [path] = carry.folder.glob("*/*.parquet")
    stored = pq.read_table(path)
    changed = stored.set_column(0, "headcount", pa.array([15.0, None, 0.0], pa.float64()))
    pq.write_table(changed, path)  # the check value kept, a value changed
    assert carry.load("workforce_in_post", "2026-09", KEY, SPEC, 3) is None
    path.write_bytes(b"not parquet")
    assert carry.load("workforce_in_post", "2026-09", KEY, SPEC, 3) is None

    carry.store_csv_body("workforce_in_post", "2026-09", KEY, "2026-09,RW1,10\n")
    assert carry.csv_body("workforce_in_post", "2026-09", KEY) == "2026-09,RW1,10\n"
    [lines] = carry.folder.glob("*/*.csv")
    lines.write_bytes(lines.read_bytes().replace(b"10", b"15"))
    assert carry.csv_body("workforce_in_post", "2026-09", KEY) is None


def test_no_entry_is_named_outside_the_cache(carry):
    for table, period, key in (
        ("../x", "2026-09", KEY),
        ("workforce_in_post", "../../x", KEY),
        ("workforce_in_post", "2026-09", "../x"),
    ):
        with pytest.raises(ValueError, match="not a cache entry"):
            carry.store(table, period, key, _cells())


def test_prune_keeps_only_what_the_publication_used(tmp_path, carry):
    carry.store("workforce_in_post", "2026-08", KEY, _cells())
    carry.store_csv_body("workforce_in_post", "2026-08", KEY, "x\n")
    with duckdb.connect() as con:
        later = Carry(carry.folder, con, {}, Policy())
        later.store("workforce_in_post", "2026-09", KEY, _cells())
        assert later.load("workforce_in_post", "2026-08", KEY, SPEC, 3) is not None
        assert later.prune() == 1  # the CSV lines of 2026-08 were not used
    names = sorted(p.name for p in carry.folder.glob("*/*"))
    assert names == [f"2026-08.{KEY}.parquet", f"2026-09.{KEY}.parquet"]
