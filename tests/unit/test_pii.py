"""The identifier scanner that runs before packaging, over real DuckDB.

Rows are in submitted form (64-character hex pseudonyms, no date of birth), as they are just
before packaging. Each test plants identifiers in otherwise clean rows and checks the rule,
row (header = row 1) and field of every finding, and that the value never appears in one.
"""

from __future__ import annotations

import hashlib
import json
import random

import duckdb
import pyarrow as pa
import pytest

from pipelines.errors import Finding
from pipelines.standard.validator import RuleTotal
from pipelines.submission.pii import (
    FOUND,
    RULE_DOB,
    RULE_EMAIL,
    RULE_NHS,
    RULE_NI,
    RULE_POSTCODE,
    scan_for_identifiers,
)
from tests.conftest import valid_row

EXTRACTS = ["staff_in_post", "leavers", "vacancies", "sickness_absence", "temporary_staffing"]
VIEW = "owf_outgoing"


def pseudonym(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def nhs_check_digit(nine: str) -> int | None:
    """Independent modulus-11 check: None when no check digit makes the number valid."""
    check = 11 - sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
    return {11: 0, 10: None}.get(check, check)


def valid_nhs_numbers(prefix: str, n: int) -> list[str]:
    numbers, body = [], int(prefix.ljust(9, "0"))
    while len(numbers) < n:
        nine = f"{body:09d}"
        check = nhs_check_digit(nine)
        if check is not None:
            numbers.append(nine + str(check))
        body += 1
    return numbers


def submitted_row(extract: str, i: int) -> dict[str, str]:
    """A valid row as it is just before packaging: pseudonyms, age band, no date of birth."""
    row = dict(valid_row(extract, i))
    row.pop("date_of_birth", None)
    for key in ("person_id", "assignment_id"):
        if key in row:
            row[key] = pseudonym(extract, key, i)
    if row.get("age_band") == "":
        row["age_band"] = "30-34"
    return row


def submitted_rows(extract: str, n: int = 3) -> list[dict[str, str]]:
    return [submitted_row(extract, i) for i in range(n)]


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def field_types(standard, extract: str) -> dict[str, str]:
    return {f.name: f.type for f in standard.extract(extract).fields_in("submitted")}


def make_view(con, rows: list[dict[str, str]]) -> str:
    """Text columns as the field view has them: empty text is NULL; data row 1 is row 2."""
    columns = list(rows[0])
    table = pa.table(
        {"__row": pa.array(range(2, len(rows) + 2), pa.int64())}
        | {c: pa.array([r[c] or None for r in rows], pa.string()) for c in columns}
    )
    con.register("owf_arrow_rows", table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {VIEW} AS SELECT * FROM owf_arrow_rows")
    con.unregister("owf_arrow_rows")
    return VIEW


def scan(con, standard, rows, extract="staff_in_post", **kw):
    make_view(con, rows)
    return scan_for_identifiers(
        con, VIEW, field_types(standard, extract), display="extract.csv", **kw
    )


def assert_never_shown(findings: list[Finding], totals: list[RuleTotal], *values: str) -> None:
    texts = [json.dumps(f.to_dict()) for f in findings]
    texts += [str(f) for f in findings] + [repr(f) for f in findings]
    texts += [f.render() for f in findings] + [repr(t) for t in totals]
    for value in values:
        for form in {value, value.replace(" ", ""), value.upper(), value.lower()}:
            for text in texts:
                assert form not in text, f"{form!r} shown in {text!r}"


# --- Clean extracts ---------------------------------------------------------------------


@pytest.mark.parametrize("extract", EXTRACTS)
def test_clean_extract_of_every_type_has_no_findings(con, standard, extract):
    assert scan(con, standard, submitted_rows(extract, 6), extract) == ([], [])


def test_thousands_of_hex_pseudonyms_give_no_findings(con, standard):
    rows = submitted_rows("staff_in_post", 5000)
    assert all(len(r["person_id"]) == 64 for r in rows)
    # The sample is a real test: many pseudonyms hold digit runs that would pass the check
    # digit if they were read as tokens.
    runs = [
        h[i : i + 10]
        for r in rows
        for h in (r["person_id"], r["assignment_id"])
        for i in range(55)
        if h[i : i + 10].isdigit()
    ]
    assert sum(nhs_check_digit(run[:9]) == int(run[9]) for run in runs) > 100
    assert scan(con, standard, rows) == ([], [])


REALISTIC_TITLES = [
    "Band 5 Staff Nurse",
    "Nurse (Ward 7B)",
    "HCA - A&E",
    "Physio 2nd Floor",
    "111 Call Handler",
    "Sister, Ward 10",
    "N01 Nurse",
    "ST3 1st on call",
    "FY1 2nd rotation",
    "B1 2nd Floor Reception",
    "24/7 Support Worker",
    "Band 8a/8b Manager",
    "AfC Band 6 - 37.5 hrs",
    "Mon-Fri 9-5 Admin",
    "Nurse 0.8 WTE",
    "Healthcare Assistant 1:1",
    "CT1-2 Psychiatry",
    "Ward 12 Band 2 HCA",
    "Charge Nurse (RMN) Band 6",
    "Consultant (Trauma & Orthopaedics)",
    "Paediatric Nurse B7",
    "STAFF NURSE - AFC_5",
]


def test_realistic_job_titles_and_codes_give_no_findings(con, standard):
    rows = submitted_rows("staff_in_post", len(REALISTIC_TITLES))
    org_codes = ["RW1", "RXH01", "A81001", "Y02345", "RW602", "8J094", "R1H", "QHM"]
    occupations = ["N01", "H11", "010", "S0A", "G2C"]
    for i, (row, title) in enumerate(zip(rows, REALISTIC_TITLES, strict=True)):
        row["local_job_title"] = title
        row["org_code"] = org_codes[i % len(org_codes)]
        row["occupation_code"] = occupations[i % len(occupations)]
        row["pay_band"] = ["AFC_8A", "AFC_5", "AFC_9"][i % 3]
    assert scan(con, standard, rows) == ([], [])


# --- Each identifier kind, planted in one row of one field -------------------------------


@pytest.mark.parametrize(
    "extract,field,template,identifier,rule",
    [
        ("staff_in_post", "local_job_title", "Staff Nurse {}", "AB 12 34 56 C", RULE_NI),
        ("staff_in_post", "local_job_title", "nurse {}", "ce654321a", RULE_NI),
        ("staff_in_post", "person_id", "{}", "AB123456C", RULE_NI),
        ("leavers", "assignment_id", "{}", "JK 11 11 11 B", RULE_NI),
        ("sickness_absence", "sickness_reason", "{}", "PR333333A", RULE_NI),
        # Separators that text pasted from documents and web pages carries, and no suffix.
        ("staff_in_post", "local_job_title", "Nurse {}", "AB\u00a0123456\u00a0C", RULE_NI),
        ("staff_in_post", "local_job_title", "{}", "AB\u202f12\u202f34\u202f56\u202fC", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {}", "AB-12-34-56-C", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {}", "AB.12.34.56.C", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {}", "AB\t12\t34\t56\tC", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {}", "JY/80/91/02/A", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {}", "JY_80_91_02_A", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {}", "JY,80,91,02,A", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {}", "JY\u200b809102A", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {}", "JY\u2060809102\ufeffA", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {} (HR)", "AB123456", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {}", "ab 12 34 56", RULE_NI),
        ("temporary_staffing", "spend_gbp", "{}", "SW444444B", RULE_NI),
        ("staff_in_post", "local_job_title", "Nurse {}", "943 476 5919", RULE_NHS),
        ("staff_in_post", "local_job_title", "{}", "9434765919", RULE_NHS),
        ("staff_in_post", "local_job_title", "NHS no. {}", "943-476-5919", RULE_NHS),
        ("staff_in_post", "local_job_title", "NHS no. {}", "943.476.5919", RULE_NHS),
        ("staff_in_post", "local_job_title", "NHS no. {}", "943\u00a0476\u00a05919", RULE_NHS),
        ("staff_in_post", "local_job_title", "Ref {}", "943/476/5919", RULE_NHS),
        ("staff_in_post", "local_job_title", "Ref {}", "943_476_5919", RULE_NHS),
        ("leavers", "person_id", "{}", "9434765919", RULE_NHS),
        ("vacancies", "harmonised_role", "{}", "943 476 5919", RULE_NHS),
        ("temporary_staffing", "hours_worked", "{}", "943 476 5919", RULE_NHS),
        ("staff_in_post", "local_job_title", "Nurse ({})", "jane.doe@nhs.net", RULE_EMAIL),
        ("staff_in_post", "gender", "{}", "j.smith+work@example.co.uk", RULE_EMAIL),
        ("temporary_staffing", "supply_type", "{}", "agency@locums.com", RULE_EMAIL),
        ("staff_in_post", "local_job_title", "Nurse {}", "01/03/1980", RULE_DOB),
        ("staff_in_post", "local_job_title", "Nurse {}", "1/3/80", RULE_DOB),
        ("staff_in_post", "local_job_title", "Nurse {}", "01-03-1980", RULE_DOB),
        ("staff_in_post", "local_job_title", "HCA {}", "1980-03-01", RULE_DOB),
        ("staff_in_post", "local_job_title", "Nurse born {}", "1 March 1980", RULE_DOB),
        ("staff_in_post", "local_job_title", "Nurse {}", "01-Mar-1980", RULE_DOB),
        ("staff_in_post", "local_job_title", "{}", "SW1A 1AA", RULE_POSTCODE),
        ("staff_in_post", "local_job_title", "Nurse, {}", "M1 1AE", RULE_POSTCODE),
        ("staff_in_post", "local_job_title", "{} Porter", "B33 8TH", RULE_POSTCODE),
        ("staff_in_post", "local_job_title", "{}", "cr2 6xh", RULE_POSTCODE),
        ("staff_in_post", "local_job_title", "Nurse {}", "b33 8Th", RULE_POSTCODE),
        ("staff_in_post", "local_job_title", "{}", "DN55 1PT", RULE_POSTCODE),
        ("staff_in_post", "local_job_title", "Nurse {}", "LS14AP", RULE_POSTCODE),
        ("vacancies", "org_code", "{}", "M11AE", RULE_POSTCODE),
    ],
)
def test_planted_identifier_is_caught_without_being_shown(
    con, standard, extract, field, template, identifier, rule
):
    rows = submitted_rows(extract)
    rows[1][field] = template.format(identifier)
    findings, totals = scan(con, standard, rows, extract)
    assert [(f.rule, f.row, f.field) for f in findings] == [(rule, 3, field)]
    f = findings[0]
    assert (f.severity, f.file, f.found) == ("error", "extract.csv", FOUND[rule])
    assert "nothing was packaged" in f.message
    assert [(t.rule, t.field, t.count) for t in totals] == [(rule, field, 1)]
    assert_never_shown(findings, totals, identifier)


def test_several_kinds_in_one_extract_are_listed_by_field_rule_and_row(con, standard):
    rows = submitted_rows("staff_in_post", 5)
    rows[4]["local_job_title"] = "AB123456C jane@nhs.net"
    rows[0]["local_job_title"] = "SW1A 1AA"
    rows[2]["person_id"] = "9434765919"
    findings, _ = scan(con, standard, rows)
    assert [(f.field, f.rule, f.row) for f in findings] == [
        ("person_id", RULE_NHS, 4),
        ("local_job_title", RULE_NI, 6),
        ("local_job_title", RULE_EMAIL, 6),
        ("local_job_title", RULE_POSTCODE, 2),
    ]


def test_two_tokens_separated_by_one_space_are_both_read(con, standard):
    rows = submitted_rows("staff_in_post", 2)
    rows[0]["local_job_title"] = "QQ123456C AB123456C"  # first is not an NI number
    rows[1]["local_job_title"] = "9434765918 9434765919"  # first fails the check digit
    findings, _ = scan(con, standard, rows)
    assert [(f.rule, f.row) for f in findings] == [(RULE_NI, 2), (RULE_NHS, 3)]


def test_tokens_inside_words_are_not_read(con, standard):
    rows = submitted_rows("staff_in_post", 4)
    rows[0]["local_job_title"] = "XAB123456C"
    rows[1]["local_job_title"] = "94347659190"
    rows[2]["local_job_title"] = "ref9434765919"
    rows[3]["local_job_title"] = "SW1A1AAB"
    assert scan(con, standard, rows) == ([], [])


def test_ni_numbers_failing_the_standards_rules_are_not_flagged(con, standard):
    rows = submitted_rows("staff_in_post", 6)
    values = ["QQ123456C", "GB123456A", "AB123456E", "TN 12 34 56 A", "QQ123456", "GB 12 34 56"]
    for row, value in zip(rows, values, strict=True):
        row["local_job_title"] = value
    assert scan(con, standard, rows) == ([], [])


def test_dates_and_postcodes_are_looked_for_in_string_fields_only(con, standard):
    rows = submitted_rows("staff_in_post", 3)
    rows[0]["ethnic_category"] = "01/03/1980"
    rows[1]["pay_band"] = "SW1A 1AA"
    rows[2]["assignment_start_date"] = "1980-03-01"
    assert scan(con, standard, rows) == ([], [])


# --- NHS numbers -------------------------------------------------------------------------


def test_valid_and_test_range_nhs_numbers_in_a_job_title_are_caught(con, standard):
    numbers = ["9434765919", *valid_nhs_numbers("999", 12)]
    assert all(n.startswith("999") for n in numbers[1:])
    rows = submitted_rows("staff_in_post", len(numbers))
    for i, (row, number) in enumerate(zip(rows, numbers, strict=True)):
        grouped = f"{number[:3]} {number[3:6]} {number[6:]}"
        row["local_job_title"] = f"Nurse {grouped if i % 2 else number}"
    findings, totals = scan(con, standard, rows)
    assert [(f.rule, f.row) for f in findings] == [(RULE_NHS, i + 2) for i in range(len(rows))]
    assert_never_shown(findings, totals, *numbers)


def test_ten_digit_numbers_failing_the_check_digit_are_not_flagged(con, standard):
    no_check = next(
        f"{b:09d}" for b in range(999000000, 999001000) if nhs_check_digit(f"{b:09d}") is None
    )
    values = ["9434765918", "9434765910", "1234567890", no_check + "0", no_check + "9"]
    rows = submitted_rows("staff_in_post", len(values))
    for row, value in zip(rows, values, strict=True):
        row["local_job_title"] = f"Nurse {value}"
    assert scan(con, standard, rows) == ([], [])


def test_check_digit_in_sql_agrees_with_python_on_random_numbers(con, standard):
    rng = random.Random(20261124)
    numbers = [f"{rng.randrange(10**10):010d}" for _ in range(3000)]
    rows = submitted_rows("staff_in_post", len(numbers))
    for row, number in zip(rows, numbers, strict=True):
        row["local_job_title"] = number
    findings, _ = scan(con, standard, rows, max_rows_per_rule=0)
    expected = {i + 2 for i, n in enumerate(numbers) if nhs_check_digit(n[:9]) == int(n[9])}
    assert 150 < len(expected) < 400  # about one in eleven
    assert {f.row for f in findings} == expected


def test_numeric_column_with_a_few_ten_digit_amounts_is_not_flagged(con, standard):
    rows = submitted_rows("temporary_staffing", 20)
    for row, amount in zip(rows, ["9434765919", "9990000018.00", "1234567890"], strict=False):
        row["spend_gbp"] = amount
    assert nhs_check_digit("999000001") == 8
    assert scan(con, standard, rows, "temporary_staffing") == ([], [])


def test_numeric_column_made_of_valid_nhs_numbers_is_flagged(con, standard):
    numbers = valid_nhs_numbers("943", 20)
    rows = submitted_rows("temporary_staffing", len(numbers))
    for row, number in zip(rows, numbers, strict=True):
        row["spend_gbp"] = number
    findings, totals = scan(con, standard, rows, "temporary_staffing", max_rows_per_rule=5)
    assert [(f.rule, f.field, f.row) for f in findings] == [
        (RULE_NHS, "spend_gbp", r) for r in range(2, 7)
    ]
    assert [(t.rule, t.field, t.count) for t in totals] == [(RULE_NHS, "spend_gbp", 20)]
    assert "mostly NHS numbers" in findings[0].message
    assert_never_shown(findings, totals, *numbers)


def test_numeric_column_of_random_ten_digit_numbers_is_not_flagged(con, standard):
    rng = random.Random(7)
    rows = submitted_rows("temporary_staffing", 200)
    for row in rows:
        row["spend_gbp"] = str(rng.randrange(10**9, 10**10))
    assert scan(con, standard, rows, "temporary_staffing") == ([], [])


@pytest.mark.parametrize("sql_type", ["BIGINT", "DOUBLE", "DECIMAL(18,2)"])
def test_typed_numeric_columns_are_judged_by_the_same_rule(con, sql_type):
    numbers = valid_nhs_numbers("450", 30)
    con.execute(
        f"CREATE TABLE typed AS SELECT i + 2 AS __row, CAST(n AS {sql_type}) AS nhs_like,"
        f" CAST(CASE WHEN i < 3 THEN n ELSE '61725' END AS {sql_type}) AS spend_gbp"
        " FROM (SELECT unnest(range(30)) AS i, unnest($numbers) AS n)",
        {"numbers": numbers},
    )
    findings, totals = scan_for_identifiers(
        con, "typed", {"nhs_like": "integer", "spend_gbp": "decimal"}, display="typed"
    )
    assert {(f.field, f.rule) for f in findings} == {("nhs_like", RULE_NHS)}
    assert [(t.field, t.count) for t in totals] == [("nhs_like", 30)]


# --- Shape of the result and the contract of the call ------------------------------------


def test_listing_is_capped_per_field_and_rule_but_totals_count_every_row(con, standard):
    rows = submitted_rows("staff_in_post", 6)
    for row in rows[1:]:
        row["local_job_title"] = "Nurse AB123456C"
    findings, totals = scan(con, standard, rows, max_rows_per_rule=2)
    assert [f.row for f in findings] == [3, 4]
    assert [(t.rule, t.field, t.count, t.severity) for t in totals] == [
        (RULE_NI, "local_job_title", 5, "error")
    ]


def test_column_not_described_is_scanned_as_a_string_field(con, standard):
    rows = submitted_rows("staff_in_post", 2)
    rows[1]["notes"] = "Lives at SW1A 1AA"
    rows[0]["notes"] = ""
    findings, _ = scan(con, standard, rows)
    assert [(f.rule, f.field, f.row) for f in findings] == [(RULE_POSTCODE, "notes", 3)]


def test_typed_date_columns_are_not_scanned(con):
    con.execute(
        "CREATE TABLE dated AS SELECT 2::BIGINT AS __row,"
        " DATE '1980-03-01' AS assignment_start_date, DATE '1980-03-01' AS notes"
    )
    fields = {"assignment_start_date": "date", "notes": "string"}
    assert scan_for_identifiers(con, "dated", fields, display="d") == ([], [])


def test_no_temporary_tables_are_left_behind(con, standard):
    rows = submitted_rows("staff_in_post", 2)
    rows[0]["local_job_title"] = "AB123456C"
    scan(con, standard, rows)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {VIEW}


def test_view_without_row_numbers_or_with_unsafe_names_is_refused(con):
    con.execute("CREATE TABLE no_rows AS SELECT 'x' AS org_code")
    with pytest.raises(ValueError, match="__row"):
        scan_for_identifiers(con, "no_rows", {"org_code": "string"}, display="x")
    con.execute("CREATE TABLE odd AS SELECT 2 AS __row, 'x' AS \"Bad Name\"")
    with pytest.raises(ValueError, match="not a standard identifier"):
        scan_for_identifiers(con, "odd", {}, display="x")
    with pytest.raises(ValueError, match="not a standard identifier"):
        scan_for_identifiers(con, "odd; DROP TABLE odd", {}, display="x")
