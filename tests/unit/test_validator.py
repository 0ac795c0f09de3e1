"""The standard's validator: one test per rule, and the file problems analysts really hit.

Each test plants one problem in otherwise valid rows and checks that the finding names the
right row (header = row 1), field and rule, and never echoes an identifying value.
"""

from __future__ import annotations

import codecs
import csv

import pytest

from pipelines.standard.reader import column_label
from pipelines.standard.validator import validate_file
from tests.conftest import valid_row, valid_rows, write_csv

EXTRACTS = ["staff_in_post", "leavers", "vacancies", "sickness_absence", "temporary_staffing"]


def _validate(tmp_path, rows, extract="staff_in_post", name="extract.csv", **kw):
    path = write_csv(tmp_path / name, rows)
    return validate_file(path, extract, **kw)


def _only(report, rule):
    hits = [f for f in report.findings if f.rule == rule]
    assert hits, f"expected a {rule} finding, got {[f.render() for f in report.findings]}"
    return hits


@pytest.mark.parametrize("extract", EXTRACTS)
def test_valid_rows_pass_for_every_extract(tmp_path, extract):
    report = _validate(tmp_path, valid_rows(extract), extract)
    assert report.ok, report.render()
    assert report.rows == 3


def _plant(tmp_path, field, value, extract="staff_in_post", row_index=1, **kw):
    rows = valid_rows(extract)
    rows[row_index][field] = value
    return _validate(tmp_path, rows, extract, **kw)


@pytest.mark.parametrize(
    "field,value,rule",
    [
        ("gender", "", "required"),
        ("contract_type", "Perm", "codelist"),
        ("ethnic_category", "W", "codelist"),
        ("occupation_code", "N0!", "pattern"),
        ("org_code", "rw1", "pattern"),
        ("contracted_hours", "abc", "type_decimal"),
        ("contracted_hours", "1,037.5", "type_decimal"),
        ("contracted_hours", "-1", "min"),
        ("contracted_hours", "200", "max"),
        ("fte", "2.5", "max"),
        ("assignment_start_date", "06/01/2020", "type_date"),
        ("assignment_start_date", "2020-02-30", "type_date"),
        ("period", "2026-13", "type_period"),
        ("professional_registration", "Yes", "type_boolean"),
        ("local_job_title", "x" * 101, "max_length"),
        ("local_job_title", "Por\x00ter", "control_character"),
        ("local_job_title", "Staff\x1bNurse", "control_character"),
        ("person_id", "QQ123456C", "ni_number"),
        ("person_id", "AB123456E", "ni_number"),
        ("person_id", "GB123456A", "ni_number"),
        ("person_id", "TN123456A", "ni_number"),
        ("assignment_id", "12 34", "pattern"),
        ("date_of_birth", "2020-01-01", "implausible_age"),
        # Excel's empty date (found in review: sent as 1900-01-01 without a word).
        ("assignment_start_date", "1900-01-01", "start_date_not_implausibly_early"),
        ("assignment_start_date", "1939-12-31", "start_date_not_implausibly_early"),
    ],
)
def test_field_rule_names_row_field_and_rule(tmp_path, field, value, rule):
    report = _plant(tmp_path, field, value)
    assert not report.ok
    hits = _only(report, rule)
    assert [(f.row, f.field) for f in hits] == [(3, field)]  # data row 2 is spreadsheet row 3


@pytest.mark.parametrize(
    "title", ["Staff\nNurse", "Staff\r\nNurse", "Staff\rNurse", "Staff\tNurse"]
)
def test_a_title_typed_on_two_lines_or_with_a_tab_is_not_a_control_character(tmp_path, title):
    # The hub's title normalisation reads line breaks and tabs as spaces.
    report = _plant(tmp_path, "local_job_title", title)
    assert report.ok, report.render()


def test_integer_type_rule(tmp_path):
    report = _plant(tmp_path, "shifts_filled", "12.5", extract="temporary_staffing")
    assert [(f.row, f.field) for f in _only(report, "type_integer")] == [(3, "shifts_filled")]


def test_required_if_rule_for_nhs_trusts(tmp_path):
    report = _plant(tmp_path, "occupation_code", "")
    assert [(f.row, f.field) for f in _only(report, "occupation_code_for_nhs_trusts")] == [
        (3, "occupation_code")
    ]


def test_required_if_rule_outside_nhs(tmp_path):
    rows = valid_rows("staff_in_post")
    rows[0] |= {"sector": "SOCIAL_CARE", "occupation_code": "", "pay_band": "", "sector_role": ""}
    rows[1] |= {
        "sector": "SOCIAL_CARE",
        "occupation_code": "",
        "pay_band": "",
        "sector_role": "CARE_WORKER",
        "staff_group": "CARE_WORKERS",
    }
    report = _validate(tmp_path, rows)
    assert [(f.row, f.rule) for f in report.errors] == [(2, "sector_role_outside_nhs_trusts")]


def test_not_greater_than_rule(tmp_path):
    report = _plant(tmp_path, "vacant_fte", "200", extract="vacancies", row_index=2)
    assert [(f.row, f.field) for f in _only(report, "vacant_within_establishment")] == [
        (4, "vacant_fte")
    ]


def test_required_when_positive_rule(tmp_path):
    report = _plant(tmp_path, "sickness_reason", "", extract="sickness_absence", row_index=0)
    assert [(f.row, f.field) for f in _only(report, "reason_when_days_lost")] == [
        (2, "sickness_reason")
    ]


def test_date_in_period_rule(tmp_path):
    report = _plant(tmp_path, "assignment_end_date", "2026-10-01", extract="leavers")
    assert [(f.row, f.field) for f in _only(report, "end_date_in_period")] == [
        (3, "assignment_end_date")
    ]


def test_date_not_after_period_end_rule(tmp_path):
    report = _plant(tmp_path, "assignment_start_date", "2026-10-01")
    assert _only(report, "start_date_not_after_period")[0].row == 3


def test_only_if_rule(tmp_path):
    rows = valid_rows("temporary_staffing")
    rows[0] |= {"supply_type": "BANK", "price_cap_override": "Y"}
    report = _validate(tmp_path, rows, "temporary_staffing")
    assert [(f.row, f.field) for f in _only(report, "price_cap_override_agency_only")] == [
        (2, "price_cap_override")
    ]


def test_fte_above_hours_rule(tmp_path):
    report = _plant(tmp_path, "fte", "1.5", row_index=0)
    rows = valid_rows("staff_in_post")
    rows[0] |= {"contracted_hours": "1", "fte": "1.5"}
    report = _validate(tmp_path, rows)
    assert _only(report, "fte_not_above_hours")[0].row == 2


@pytest.mark.parametrize(
    "fte,hours", [(".6", "22.5"), ("0.6", "22.5"), (".5", ".5"), ("1", "37.5")]
)
def test_decimals_without_a_leading_zero_are_numbers(tmp_path, fte, hours):
    """Some HR systems write ".6": a number, not "a decimal number" refused as no number."""
    rows = valid_rows("staff_in_post")
    rows[0] |= {"fte": fte, "contracted_hours": hours}
    report = _validate(tmp_path, rows)
    assert report.ok, report.render()


@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity", "1e3", "."])
def test_text_that_is_no_number_fails_its_type_once(tmp_path, value):
    """DuckDB reads "NaN" and "inf" as numbers above every other: they fail the decimal
    type, and are not also reported as an FTE above the contracted hours."""
    rows = valid_rows("staff_in_post")
    rows[0] |= {"fte": value, "contracted_hours": "37.5"}
    report = _validate(tmp_path, rows)
    assert [(f.rule, f.row, f.field) for f in report.findings] == [("type_decimal", 2, "fte")]


def test_age_band_or_date_of_birth_required(tmp_path):
    report = _plant(tmp_path, "date_of_birth", "")
    hits = _only(report, "required")
    assert [(f.row, f.field) for f in hits] == [(3, "age_band")]
    assert "date_of_birth" in hits[0].message


def test_duplicate_key_names_both_rows(tmp_path):
    rows = valid_rows("staff_in_post")
    rows.append(dict(rows[0]) | {"person_id": "ab 12 34 56 c"})  # same person, other spelling
    report = _validate(tmp_path, rows)
    hit = _only(report, "duplicate_key")
    assert [(f.row, f.found) for f in hit] == [(5, "the same key as row 2")]


def test_expected_org_and_period(tmp_path):
    rows = valid_rows("staff_in_post")
    rows[2]["org_code"] = "RW2"
    rows[1]["period"] = "2026-08"
    report = _validate(tmp_path, rows, expected_org="RW1", expected_period="2026-09")
    assert _only(report, "org_code_mismatch")[0].row == 4
    assert _only(report, "period_mismatch")[0].row == 3


def test_submitted_form_requires_pseudonyms_and_refuses_date_of_birth(tmp_path):
    rows = valid_rows("staff_in_post")
    report = _validate(tmp_path, rows, form="submitted")
    assert _only(report, "not_in_submitted_form")[0].field == "date_of_birth"
    for r in rows:
        r.pop("date_of_birth")
        r["age_band"] = "35-39"
    rows[1]["assignment_id"] = "a" * 64
    report = _validate(tmp_path, rows, form="submitted")
    assert {(f.row, f.field) for f in _only(report, "pseudonym")} == {
        (2, "person_id"),
        (3, "person_id"),
        (4, "person_id"),
        (2, "assignment_id"),
        (4, "assignment_id"),
    }


def test_identifying_values_are_never_echoed(tmp_path):
    rows = valid_rows("staff_in_post")
    rows[0]["person_id"] = "QQ123456C"
    rows[1]["gender"] = "Female-AB123456C"
    rows[2]["contract_type"] = "AB123456C"  # an identifier pasted into a code column
    report = _validate(tmp_path, rows)
    text = report.render() + str(report.to_dict())
    assert "QQ123456C" not in text and "AB123456C" not in text
    assert (
        _only(report, "ni_number")[0].found == "upper-case letters and digits, 9 characters"
        or _only(report, "ni_number")[0].found == "letters and digits, 9 characters"
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("pay_band", "Band 5"),  # a prefix and a short number
        ("pay_band", "AFC_99"),
        ("pay_band", "8a"),
        ("contract_type", "Permanent"),  # a spelling of a code: case
        ("contract_type", "fixed term"),  # ... spaces for underscores
        ("staff_group", "NURSES_XX"),  # words joined by underscores
        ("working_pattern", "X"),  # one or two characters
        ("professional_registration", "Yes"),  # a spelling of a boolean
    ],
)
def test_non_identifying_codes_are_shown(tmp_path, field, value):
    report = _plant(tmp_path, field, value)
    assert {f.found for f in report.findings if f.field == field} == {f'value "{value}"'}


@pytest.mark.parametrize(
    "field,value,described",
    [
        ("contract_type", "Ben Green", "words, 9 characters"),
        ("contract_type", "Whitfield", "letters, 9 characters"),
        ("org_code", "PATEL", "upper-case letters, 5 characters"),
        ("working_pattern", "Sarah-Jane", "text, 10 characters"),
        ("pay_band", "Flat 4 Rose Court", "text, 17 characters"),
        ("staff_group", "12 Acacia Avenue", "text, 16 characters"),
        ("sector", "Mohammed", "letters, 8 characters"),
        ("contract_type", "Perm", "letters, 4 characters"),  # could be a surname
    ],
)
def test_words_in_a_code_field_are_described_not_shown(tmp_path, field, value, described):
    """A name or an address typed into a code column (or put there by a shifted column or a
    wrong profile mapping) is described, never echoed, in the report and the receipt."""
    org = valid_rows("staff_in_post")[0]["org_code"]
    report = _plant(tmp_path, field, value, expected_org=org)
    assert {f.found for f in report.findings if f.field == field} == {described}
    assert value not in report.render() + str(report.to_dict())


def test_a_row_failing_several_checks_gets_a_finding_for_each(tmp_path):
    rows = valid_rows("staff_in_post")
    rows[1] |= {"gender": "Q", "pay_band": "Band 5", "fte": "2.5"}
    report = _validate(tmp_path, rows)
    assert sorted((f.row, f.field, f.rule) for f in report.findings) == [
        (3, "fte", "max"),
        (3, "gender", "codelist"),
        (3, "pay_band", "codelist"),
    ]


def test_rows_are_numbered_from_the_file_across_record_batches(tmp_path):
    """The mapped rows are held in Arrow record batches (ARROW_BATCH_ROWS each): findings
    past the first batch still name the file's own row, as do duplicates across batches."""
    from pipelines.standard.reader import ARROW_BATCH_ROWS

    n = 2 * ARROW_BATCH_ROWS + 500
    rows = [valid_row("staff_in_post", i) for i in range(n)]
    late = ARROW_BATCH_ROWS + 7  # a data row in the second batch
    rows[late]["gender"] = "Q"
    rows[n - 1]["assignment_id"] = rows[3]["assignment_id"]  # duplicate of a first-batch row
    rows[n - 1]["person_id"] = rows[3]["person_id"]
    report = _validate(tmp_path, rows)
    assert report.rows == n
    assert [(f.row, f.rule) for f in report.findings] == [
        (late + 2, "codelist"),
        (n + 1, "duplicate_key"),
    ]
    assert report.findings[1].found == "the same key as row 5"


def test_every_failure_is_counted_beyond_the_listing_cap(tmp_path):
    rows = [
        valid_row("staff_in_post", i) | {"assignment_id": f"A{i}", "gender": "Q"} for i in range(50)
    ]
    path = write_csv(tmp_path / "many.csv", rows)
    report = validate_file(path, "staff_in_post", max_rows_per_rule=10)
    assert report.error_count == 50
    assert len(_only(report, "codelist")) == 10
    assert "40 more" in report.render(max_rows=10)


# File-level problems ---------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    report = validate_file(path, "staff_in_post")
    assert [f.rule for f in report.errors] == ["empty_file"]
    assert "empty" in report.errors[0].message and report.errors[0].file == "empty.csv"


def test_header_only_file(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text(",".join(valid_row("staff_in_post")) + "\n")
    report = validate_file(path, "staff_in_post")
    assert [(f.rule, f.row) for f in report.errors] == [("no_rows", 2)]


def test_wrong_delimiter(tmp_path):
    path = write_csv(tmp_path / "semi.csv", valid_rows("staff_in_post"), delimiter=";")
    report = validate_file(path, "staff_in_post")
    [finding] = report.errors
    assert finding.rule == "delimiter" and finding.row == 1
    assert "semicolon" in finding.message and "--delimiter" in finding.message


@pytest.mark.parametrize(
    "written, given, says",
    [
        (",", ";", "looks comma-separated. It is read as semicolon-separated"),
        ("\t", ";", "looks tab-separated. It is read as semicolon-separated (--delimiter, or the profile's): pass --delimiter tab"),
    ],
)  # fmt: skip
def test_a_wrong_delimiter_option_is_named_not_taken_for_a_missing_header(
    tmp_path, written, given, says
):
    """Found in review: a comma file given --delimiter ';' was refused as having no header,
    and a tab file was told 'the standard expects semicolon-separated values'."""
    path = write_csv(tmp_path / "f.csv", valid_rows("staff_in_post"), delimiter=written)
    [finding] = validate_file(path, "staff_in_post", delimiter=given).errors
    assert finding.rule == "delimiter" and says in finding.message


def test_other_delimiter_accepted_when_declared(tmp_path):
    path = write_csv(tmp_path / "semi.csv", valid_rows("staff_in_post"), delimiter=";")
    assert validate_file(path, "staff_in_post", delimiter=";").ok


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    write_csv(path, valid_rows("staff_in_post"), encoding="utf-8-sig")
    assert path.read_bytes().startswith(codecs.BOM_UTF8)
    report = validate_file(path, "staff_in_post")
    assert report.ok, report.render()


def test_windows_1252_is_read_with_a_warning(tmp_path):
    rows = valid_rows("staff_in_post")
    rows[1]["local_job_title"] = "Nurse – Café ward"  # en dash and é: not UTF-8 once encoded
    path = write_csv(tmp_path / "cp1252.csv", rows, encoding="cp1252")
    report = validate_file(path, "staff_in_post")
    assert report.ok, report.render()
    assert report.encoding == "cp1252"
    [warning] = report.warnings
    assert warning.rule == "encoding" and warning.row == 3 and "CSV UTF-8" in warning.message


@pytest.mark.parametrize("bom", [False, True])
def test_an_encoding_finding_counts_a_value_spanning_lines_as_one_row(tmp_path, bom):
    """The row of a non-UTF-8 byte is the spreadsheet's row: a quoted value spanning lines
    above it is one row (it was counted as one line per line break, so row 6 was called 8),
    and a quoted value holding a doubled quote changes nothing."""
    rows = [dict(r) for r in valid_rows("staff_in_post") * 2]
    rows[0]["local_job_title"] = 'Staff\nNurse\n"Nights"'  # rows 2 (3 lines); quotes doubled
    rows[4]["local_job_title"] = "Café"  # row 6
    path = write_csv(tmp_path / "ml.csv", rows, encoding="cp1252")
    if bom:
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    findings = validate_file(path, "staff_in_post").findings
    [finding] = [f for f in findings if f.rule == "encoding"]  # (the rows repeat: duplicates)
    assert (finding.rule, finding.severity, finding.row) == (
        "encoding",
        "error" if bom else "warning",
        6,
    )
    assert "row 6" in finding.message


def test_a_file_mixing_utf8_and_windows_1252_is_an_error_naming_both_rows(tmp_path):
    """Found in review: a UTF-8 file with one stray Windows-1252 byte was read whole as
    Windows-1252, with a mild warning, and its correct accents were sent garbled ('RenÃ©e')."""
    rows = valid_rows("staff_in_post", 4)
    rows[0]["local_job_title"] = "Renée"  # row 2, UTF-8
    path = write_csv(tmp_path / "mixed.csv", rows)
    path.write_bytes(path.read_bytes().replace(b"Staff Nurse", b"Staff Nurse \xe9", 1))
    [finding] = validate_file(path, "staff_in_post").errors
    assert (finding.rule, finding.row) == ("encoding", 3)
    assert "mixes two encodings: row 2 holds a character written as UTF-8" in finding.message


def test_a_utf8_file_with_a_bom_and_one_bad_byte_is_an_error_on_its_row(tmp_path):
    """Not read as Windows-1252, which made the mark part of the first column's name."""
    rows = valid_rows("staff_in_post")
    path = write_csv(tmp_path / "bom.csv", rows, encoding="utf-8-sig")
    path.write_bytes(path.read_bytes().replace(b"Staff Nurse", b"Staff \xe9 Nurse", 1))
    [finding] = validate_file(path, "staff_in_post").findings
    assert (finding.rule, finding.severity, finding.row) == ("encoding", "error", 2)
    assert "byte-order mark" in finding.message


def test_undecodable_bytes_are_an_error(tmp_path):
    path = write_csv(tmp_path / "bad.csv", valid_rows("staff_in_post"))
    path.write_bytes(path.read_bytes().replace(b"Staff Nurse", b"Staff \x81\xff Nurse", 1))
    [finding] = validate_file(path, "staff_in_post").errors
    assert finding.rule == "encoding" and finding.row == 2


def test_utf16_is_an_error_with_advice(tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "org_code\n".encode("utf-16-le"))
    [finding] = validate_file(path, "staff_in_post").errors
    assert finding.rule == "encoding" and "CSV UTF-8" in finding.message


def test_missing_required_column(tmp_path):
    rows = valid_rows("staff_in_post")
    columns = [c for c in rows[0] if c != "gender"]
    report = validate_file(write_csv(tmp_path / "m.csv", rows, columns), "staff_in_post")
    [finding] = report.errors
    assert (finding.rule, finding.row, finding.field) == ("missing_column", 1, "gender")


def test_missing_optional_column_is_fine(tmp_path):
    rows = valid_rows("staff_in_post")
    columns = [c for c in rows[0] if c != "disability"]
    assert validate_file(write_csv(tmp_path / "m.csv", rows, columns), "staff_in_post").ok


def test_extra_column(tmp_path):
    rows = [r | {"Surname": "Smith"} for r in valid_rows("staff_in_post")]
    report = validate_file(write_csv(tmp_path / "x.csv", rows), "staff_in_post")
    [finding] = report.errors
    assert (finding.rule, finding.row, finding.field) == ("unknown_column", 1, "Surname")
    assert "Smith" not in report.render()


def test_header_names_ignore_case_and_spaces(tmp_path):
    rows = valid_rows("staff_in_post")
    path = tmp_path / "case.csv"
    write_csv(path, rows)
    text = path.read_text().split("\n", 1)
    path.write_text(text[0].upper().replace(",", " , ") + "\n" + text[1])
    assert validate_file(path, "staff_in_post").ok


def test_duplicate_column(tmp_path):
    rows = valid_rows("staff_in_post")
    path = write_csv(tmp_path / "d.csv", rows)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",gender"] + [ln + ",F" for ln in lines[1:]]) + "\n")
    assert _only(validate_file(path, "staff_in_post"), "duplicate_column")[0].field == "gender"


def test_an_empty_header_cell_is_named_by_position(tmp_path):
    path = write_csv(tmp_path / "e.csv", valid_rows("staff_in_post"))
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ","] + [ln + "," for ln in lines[1:]]) + "\n")
    [finding] = _only(validate_file(path, "staff_in_post"), "empty_column_name")
    assert (
        finding.row == 1
        and f"header cell {len(lines[0].split(',')) + 1} is empty" in finding.message
    )


def test_a_folder_given_as_the_file_is_a_clear_error(tmp_path):
    [finding] = validate_file(tmp_path, "staff_in_post").errors
    assert finding.rule == "not_a_file" and "is a folder" in finding.message


def test_truncated_file_names_the_broken_row(tmp_path):
    path = write_csv(tmp_path / "t.csv", valid_rows("staff_in_post"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 60])  # cut the last row short
    report = validate_file(path, "staff_in_post")
    [finding] = report.errors
    assert (finding.rule, finding.row) == ("malformed_row", 4)
    assert "AB" not in finding.message


def test_a_row_over_the_readers_line_limit_is_named_not_a_crash(tmp_path):
    """DuckDB sets aside a line over its size limit with no column: that row is reported
    (it crashed the report with an AttributeError before)."""
    from pipelines.standard.reader import MAX_LINE_BYTES

    rows = valid_rows("staff_in_post")
    rows[1]["local_job_title"] = "A" * (MAX_LINE_BYTES + 1000)
    report = validate_file(write_csv(tmp_path / "long.csv", rows), "staff_in_post")
    [finding] = report.errors
    assert (finding.rule, finding.row) == ("malformed_row", 3)
    assert "longer than the reader's limit of 2,000,000 bytes" in finding.message
    assert "AAAA" not in report.render()


def test_unclosed_quote(tmp_path):
    path = write_csv(tmp_path / "q.csv", valid_rows("staff_in_post"))
    path.write_text(path.read_text().replace("Staff Nurse", '"Staff Nurse', 1))
    assert _only(validate_file(path, "staff_in_post"), "malformed_row")


def test_missing_file(tmp_path):
    [finding] = validate_file(tmp_path / "nope.csv", "staff_in_post").errors
    assert finding.rule == "file_not_found"


def test_crlf_line_endings(tmp_path):
    path = write_csv(tmp_path / "crlf.csv", valid_rows("staff_in_post"), lineterminator="\r\n")
    assert validate_file(path, "staff_in_post").ok


def test_unknown_extract_is_a_clear_error(tmp_path):
    from pipelines.errors import OwfError

    with pytest.raises(OwfError, match="unknown extract type 'staff'.*staff_in_post"):
        validate_file(tmp_path / "x.csv", "staff")


def test_header_only_file_is_a_warning_where_the_extract_may_be_empty(tmp_path):
    path = tmp_path / "leavers.csv"
    path.write_text(",".join(valid_row("leavers")) + "\n")
    report = validate_file(path, "leavers")
    assert report.ok and [(f.rule, f.severity) for f in report.findings] == [("no_rows", "warning")]


# -- a CSV read and mapped in one pass (`load_csv(defer=True)` then `select_into`) ----------


def _load(path, defer):
    import duckdb

    from pipelines.standard.reader import load_csv

    con = duckdb.connect()
    return con, load_csv(con, path, "owf_src", defer=defer)


def test_a_deferred_csv_gives_the_same_rows_row_numbers_and_findings_as_a_loaded_one(tmp_path):
    from pipelines.standard.reader import select_into

    rows = valid_rows("staff_in_post") * 3
    path = write_csv(tmp_path / "t.csv", rows)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 60])  # the last row is cut short
    columns = "upper(c0) AS a, nullif(trim(c2), '') AS b"
    results = []
    for defer in (False, True):
        con, src = _load(path, defer)
        assert (src.scan_sql is not None) == defer  # deferred: nothing read yet
        added = select_into(con, src, "owf_fields", columns)
        assert [(f.rule, f.row) for f in src.findings] == [("malformed_row", 10)]
        assert added == (src.findings if defer else [])
        assert src.scan_sql is None and src.rows == 8
        results.append(con.execute("SELECT * FROM owf_fields ORDER BY __row").fetchall())
    assert results[0] == results[1]
    assert [r[0] for r in results[1]] == list(range(2, 10))  # header is row 1


def test_select_into_replaces_what_a_reused_connection_made_before(tmp_path):
    from pipelines.standard.reader import load_csv, select_into

    path = write_csv(tmp_path / "t.csv", valid_rows("staff_in_post"))
    con, src = _load(path, True)
    select_into(con, src, "owf_fields", "c0 AS a")
    again = load_csv(con, path, "owf_src", defer=True)
    select_into(con, again, "owf_fields", "c1 AS b, c2 AS c")
    assert [d[0] for d in con.execute("DESCRIBE owf_fields").fetchall()] == ["__row", "b", "c"]
    assert con.execute("SELECT count(*) FROM owf_fields").fetchone()[0] == 3


def test_a_file_gone_before_its_body_is_read_is_unreadable_and_makes_nothing(tmp_path):
    from pipelines.standard.reader import select_into

    path = write_csv(tmp_path / "t.csv", valid_rows("staff_in_post"))
    con, src = _load(path, True)
    path.unlink()  # between the header check and the read
    [finding] = select_into(con, src, "owf_fields", "c0 AS a")
    assert finding.rule == "unreadable" and finding.file == "t.csv"
    assert "CSV UTF-8" in finding.message
    names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    names |= {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    assert not names & {"owf_fields", "owf_fields_rows", "owf_reject_errors", "owf_reject_scans"}


def test_a_mistake_in_the_mapping_sql_is_not_blamed_on_the_file(tmp_path):
    import duckdb

    from pipelines.standard.reader import select_into

    path = write_csv(tmp_path / "t.csv", valid_rows("staff_in_post"))
    con, src = _load(path, True)
    with pytest.raises(duckdb.ConversionException):
        select_into(con, src, "owf_fields", "CAST('x' || c0 AS INTEGER) AS a")
    assert src.findings == []


@pytest.mark.parametrize(
    "name,label",
    [
        ("Surname", "Surname"),
        ("Date Of Birth", "Date Of Birth"),
        ("Asg Full Part Time", "Asg Full Part Time"),
        ("Band 5 (AfC)", "Band 5 (AfC)"),
        ("SINGH, Mia", "column 3"),
        ("AB123456C", "column 3"),
        ("ab 12 34 56 c", "column 3"),
        ("9434765919", "column 3"),
        ("1966-04-02", "column 3"),
        ("22/10/67", "column 3"),
        ("QV6 5LZ", "column 3"),
        ("mia.singh@rw1.nhs.example", "column 3"),
    ],
)
def test_header_cells_are_named_only_when_they_read_like_column_names(name, label):
    assert column_label(name, 3) == label


def test_a_file_without_a_header_row_gives_one_finding_and_quotes_no_cell(tmp_path):
    rows = valid_rows("staff_in_post")
    path = write_csv(tmp_path / "x.csv", rows)
    path.write_text("\n".join(path.read_text().splitlines()[1:]) + "\n")
    [finding] = validate_file(path, "staff_in_post").findings
    assert (finding.rule, finding.row, finding.field) == ("no_header", 1, None)
    assert rows[0]["person_id"] not in finding.message


@pytest.mark.parametrize(
    "born,ok",
    [
        ("1925-12-01", True),  # 100 on 2026-09-30: the oldest age allowed
        ("1925-09-30", False),  # 101 that day
        ("2012-09-30", True),  # 14 that day
        ("2012-12-31", False),  # 13: too young, though born in a year 14 years before
    ],
)
def test_age_check_uses_the_age_on_the_last_day_of_the_period(tmp_path, born, ok):
    report = _plant(tmp_path, "date_of_birth", born)
    hits = [f for f in report.findings if f.rule == "implausible_age"]
    assert (hits == []) is ok


def test_a_file_mixing_line_endings_is_named_as_such_with_the_line(tmp_path):
    rows = valid_rows("staff_in_post", 4)
    path = write_csv(tmp_path / "mixed.csv", rows)
    lines = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n")
    # Rows pasted from a Windows file into a Unix one: line 3 ends with CR LF, the rest LF.
    path.write_bytes(b"\n".join(lines[:3]) + b"\r\n" + b"\n".join(lines[3:]))
    [finding] = validate_file(path, "staff_in_post").errors
    assert (finding.rule, finding.row) == ("unreadable", 3)
    assert "mixes line endings" in finding.message
    # The summary line counts in words: "1 error", not "1 errors".
    summary = validate_file(path, "staff_in_post").render().splitlines()[0]
    assert summary.endswith("FAILED - 0 data rows, 1 error, 0 warnings"), summary


def test_a_quoted_file_mixing_line_endings_is_named_as_such_once(tmp_path):
    """Found in review: an export quoting every field (as ESR's does) with CR LF lines from
    row 750 on gave 'a quoted value is not closed' for row 750 and 739 more rows."""
    rows = valid_rows("staff_in_post", 30)
    path = write_csv(tmp_path / "quoted.csv", rows, quoting=csv.QUOTE_ALL, lineterminator="\n")
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:20]) + b"\n" + b"\r\n".join(lines[20:]))
    errors = validate_file(path, "staff_in_post").errors
    assert [(f.rule, f.row) for f in errors] == [("malformed_row", 21)], [
        f.render() for f in errors
    ]
    assert "mixes line endings: line 21 ends with CR LF (Windows)" in errors[0].message
    # No count: the reader sets aside only the lines it trips on (found in review: "1 rows
    # could not be read" of a file with 1,400 lines after the change).
    assert "rows could not be read" not in errors[0].message
    assert "cannot be read as it is and is refused whole" in errors[0].message


# -- blank lines: skipped, but every later row keeps the row it has in the file ---------------


def _with_blank_lines(path, newline: bytes, after_rows=(1,), trailing=0):
    """Rewrite `path` (written by write_csv) with a blank line after the given data rows and
    `trailing` blank lines at the end."""
    lines = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n")
    assert lines[-1] == b""
    body = lines[:-1]
    out = []
    for i, line in enumerate(body):
        out.append(line)
        if i in after_rows:  # i = 0 is the header, i = 1 the first data row
            out.append(b"")
    out.extend([b""] * trailing)
    path.write_bytes(newline.join(out) + newline)
    return path


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_a_blank_line_between_rows_keeps_the_rows_after_it_on_their_own_row(
    tmp_path, newline, encoding
):
    """DuckDB's reader skips a blank line: before this, a failure after one was reported a
    row too early. Lines: 1 header, 2 a row, 3 blank, 4 and 5 rows, 6 blank, 7 and 8 rows."""
    rows = valid_rows("staff_in_post") + [valid_row("staff_in_post", i) for i in (3, 4)]
    rows[2]["gender"] = "Q"  # the third data row: on line 5 of the file
    rows[4]["fte"] = "2.5"  # the fifth: on line 9
    if encoding == "cp1252":
        rows[0]["local_job_title"] = "Caf\u00e9 assistant"
    path = write_csv(tmp_path / "blank.csv", rows)
    if encoding == "cp1252":
        path.write_bytes(path.read_bytes().decode("utf-8").encode("cp1252"))
    _with_blank_lines(path, newline, after_rows=(1, 3))
    lines = path.read_bytes().split(newline)
    assert lines[2] == b"" and lines[5] == b""
    report = validate_file(path, "staff_in_post")
    assert report.rows == 5
    assert sorted((f.row, f.field, f.rule) for f in report.errors) == [
        (5, "gender", "codelist"),
        (8, "fte", "max"),
    ]
    assert not [f for f in report.findings if f.rule == "row_numbers"]


def test_blank_lines_at_the_end_change_nothing_and_cost_no_second_read(tmp_path):
    from pipelines.standard.reader import _has_blank_line

    rows = valid_rows("staff_in_post")
    rows[2]["gender"] = "Q"
    path = _with_blank_lines(write_csv(tmp_path / "t.csv", rows), b"\r\n", (), trailing=3)
    assert path.read_bytes().endswith(b"\r\n\r\n\r\n\r\n")
    assert not _has_blank_line(path)
    report = validate_file(path, "staff_in_post")
    assert report.rows == 3
    assert [(f.row, f.rule) for f in report.errors] == [(4, "codelist")]
    assert _has_blank_line(_with_blank_lines(path, b"\n", (2,)))


def test_a_quoted_value_with_an_empty_line_in_it_is_one_row(tmp_path):
    """A job title typed over several lines (Alt+Enter in Excel), one of them empty: one
    record, one spreadsheet row; the row after it is the next row."""
    rows = valid_rows("staff_in_post")
    rows[0]["local_job_title"] = "Ward\n\nmanager"
    rows[1]["gender"] = "Q"
    path = write_csv(tmp_path / "t.csv", rows)
    assert b'"Ward\n\nmanager"' in path.read_bytes() or b'"Ward\r\n\r\nmanager"' in (
        path.read_bytes()
    )
    report = validate_file(path, "staff_in_post")
    assert report.rows == 3
    assert [(f.row, f.field, f.rule) for f in report.errors] == [(3, "gender", "codelist")]


def test_when_the_blank_lines_cannot_be_placed_the_report_says_its_rows_skip_them(
    tmp_path, monkeypatch
):
    """Should the second reading of the file ever disagree with DuckDB's about how many rows
    there are, the rows keep their positions (as before) and a warning says so."""
    import pipelines.standard.reader as reader

    rows = valid_rows("staff_in_post")
    rows[2]["gender"] = "Q"
    path = _with_blank_lines(write_csv(tmp_path / "t.csv", rows), b"\n", (1,))
    monkeypatch.setattr(reader, "csv_row_numbers", lambda *a: reader.array.array("q", [2]))
    report = validate_file(path, "staff_in_post")
    assert [(f.row, f.rule) for f in report.errors] == [(4, "codelist")]  # its position
    assert [f.rule for f in report.warnings] == ["row_numbers"]


def test_a_value_too_long_for_pythons_csv_reader_still_gives_a_report(tmp_path):
    """Python's csv module refuses a value over 131,072 characters, which DuckDB reads: the
    second reading fails, and the report says the row numbers skip the blank lines."""
    rows = valid_rows("staff_in_post")
    rows[0]["local_job_title"] = "x" * 140_000  # too long for the standard: max_length
    path = _with_blank_lines(write_csv(tmp_path / "t.csv", rows), b"\n", (2,))
    report = validate_file(path, "staff_in_post")
    assert [(f.row, f.field, f.rule) for f in report.errors] == [
        (2, "local_job_title", "max_length")
    ]
    assert [f.rule for f in report.warnings] == ["row_numbers"]


# -- XLSX: what the reader takes from a workbook --------------------------------------------


def _workbook(path, cells: dict[str, object], second_sheet: bool = False):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Staff"
    for ref, value in cells.items():
        sheet[ref] = value
    if second_sheet:
        book.create_sheet("Notes")["A1"] = "exported by someone"
    book.save(path)
    return path


def _read_xlsx(path):
    import duckdb

    from pipelines.standard.reader import load_xlsx

    con = duckdb.connect()
    src = load_xlsx(con, path, "owf_src")
    rows = con.execute("SELECT * FROM owf_src").fetchall() if src.ok else None
    return src, rows


def test_an_xlsx_cell_becomes_the_text_a_csv_export_would_hold(tmp_path):
    """Typed cells as text: a whole number without a decimal point, a date as ISO, a time of
    day kept, a boolean as Y/N; text as typed (spaces kept: the mapping trims); an empty cell
    and a formula nobody calculated are empty (NULL)."""
    import datetime as dt

    cells = {"A1": "text", "B1": "whole", "C1": "fraction", "D1": "date", "E1": "moment"}
    cells |= {"F1": "flag", "G1": "empty", "H1": "formula"}
    cells |= {"A2": " Ward manager ", "B2": 37, "C2": 0.8, "D2": dt.date(2020, 1, 2)}
    cells |= {"E2": dt.datetime(2020, 1, 2, 13, 4, 5), "F2": True, "H2": "=1+1"}
    cells |= {"A3": "00123", "B3": 1.0, "C3": 12.5, "D3": dt.datetime(2021, 3, 4), "F3": False}
    src, rows = _read_xlsx(_workbook(tmp_path / "typed.xlsx", cells))
    assert src.ok and src.rows == 2 and src.header[:3] == ["text", "whole", "fraction"]
    assert rows == [
        (" Ward manager ", "37", "0.8", "2020-01-02", "2020-01-02 13:04:05", "Y", None, None),
        ("00123", "1", "12.5", "2021-03-04", None, "N", None, None),
    ]


def test_an_xlsx_sheet_that_starts_below_or_right_of_a1_keeps_its_rows_and_columns(tmp_path):
    """The sheet's own row numbers and column positions, whatever cell the data starts at:
    a heading in C3 is not a header in row 1 (row 1 is empty), as a spreadsheet shows it."""
    cells = {"C3": "org_code", "D3": "period", "C4": "RW1", "D4": "2026-10"}
    src, _ = _read_xlsx(_workbook(tmp_path / "offset.xlsx", cells))
    assert [(f.rule, f.row) for f in src.findings] == [("no_header", 1)]
    cells = {"B1": "org_code", "C1": "period", "B2": "RW1", "C2": "2026-10", "B4": "RW2"}
    src, rows = _read_xlsx(_workbook(tmp_path / "col_b.xlsx", cells, second_sheet=True))
    assert src.header == ["", "org_code", "period"]
    assert [f.rule for f in src.findings] == ["several_sheets"]  # empty heading: checked later
    assert "'Staff'" in src.findings[0].message
    assert rows == [(None, "RW1", "2026-10"), (None, None, None), (None, "RW2", None)]


def test_a_long_workbook_says_how_far_its_read_has_got(tmp_path):
    import duckdb

    from pipelines.standard.reader import load_xlsx

    cells = {"A1": "org_code"} | {f"A{r}": "RW1" for r in range(2, 7)}  # 5 rows
    heard: list[str] = []
    src = load_xlsx(
        duckdb.connect(),
        _workbook(tmp_path / "long.xlsx", cells),
        "owf_src",
        batch_rows=2,
        progress=heard.append,
    )
    assert src.ok and src.rows == 5
    assert heard == ["2 rows read", "4 rows read", "5 rows read"]


def test_an_excel_error_in_a_cell_is_read_as_empty_and_named_by_row_and_column(tmp_path):
    """A cell showing #N/A or #REF! holds no value: it is read as empty, and a warning names
    the row and the column, so an error in an optional field is not sent as a silent blank."""
    cells = {"A1": "org_code", "B1": "local_job_title", "A2": "RW1", "B2": "#N/A"}
    cells |= {"A3": "RW1", "B3": "Nurse", "A4": "#REF!", "B4": "Porter"}
    src, rows = _read_xlsx(_workbook(tmp_path / "errors.xlsx", cells))
    assert rows == [("RW1", None), ("RW1", "Nurse"), (None, "Porter")]
    assert [(f.severity, f.rule, f.row, f.field) for f in src.findings] == [
        ("warning", "excel_error", 2, "local_job_title"),
        ("warning", "excel_error", 4, "org_code"),
    ]
    assert "#N/A" in src.findings[0].message and "read as empty" in src.findings[0].message


def _with_cached_value(path, ref: str, value: str):
    """The workbook at `path` with cell `ref`'s formula given a calculated value, as Excel
    saves it (openpyxl writes formulas without one)."""
    import re
    import zipfile

    parts = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            parts[name] = z.read(name)
    sheet = "xl/worksheets/sheet1.xml"
    cell = re.compile(rb'(<c r="' + ref.encode() + rb'"[^>]*>\s*<f>[^<]*</f>)(<v\s*/>|<v></v>)?')
    parts[sheet], n = cell.subn(
        lambda m: m.group(1) + b"<v>" + value.encode() + b"</v>", parts[sheet]
    )
    assert n == 1
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def test_a_formula_never_calculated_is_read_as_empty_and_named(tmp_path):
    """A workbook written by a program (not saved by Excel) keeps its formulas without values:
    calamine reads them as empty, and a warning names each cell, so an optional field is
    not sent as a silent blank. A formula Excel calculated is read as its value, unflagged."""
    cells = {"A1": "org_code", "B1": "local_job_title", "C1": "fte"}
    cells |= {"A2": "RW1", "B2": '=UPPER("nurse")', "C2": "1"}
    cells |= {"A3": "RW1", "B3": "Porter", "C3": "=0.5*2"}
    cells |= {"A4": "RW1", "B4": "Porter", "C4": "=1/1"}
    path = _with_cached_value(_workbook(tmp_path / "formulas.xlsx", cells), "C4", "1")
    src, rows = _read_xlsx(path)
    assert rows == [("RW1", None, "1"), ("RW1", "Porter", None), ("RW1", "Porter", "1")]
    assert [(f.severity, f.rule, f.row, f.field) for f in src.findings] == [
        ("warning", "formula_not_calculated", 2, "local_job_title"),
        ("warning", "formula_not_calculated", 3, "fte"),
    ]
    assert "save it" in src.findings[0].message


def test_merged_cells_are_named_with_the_rows_read_as_empty(tmp_path):
    """Excel shows a merged range's value across all its cells; the file holds it in the
    first only. Each merged range in the data is named (sorted by row), with its column."""
    from openpyxl import load_workbook

    cells = {"A1": "org_code", "B1": "local_job_title", "C1": "contract_type"}
    for r in range(2, 7):
        cells |= {f"A{r}": "RW1", f"B{r}": "Nurse", f"C{r}": "PERMANENT"}
    path = _workbook(tmp_path / "merged.xlsx", cells)
    book = load_workbook(path)
    book.active.merge_cells("C5:C6")
    book.active.merge_cells("B2:B4")
    book.save(path)
    src, rows = _read_xlsx(path)
    assert [r[1:] for r in rows] == [
        ("Nurse", "PERMANENT"),
        (None, "PERMANENT"),
        (None, "PERMANENT"),
        ("Nurse", "PERMANENT"),
        ("Nurse", None),
    ]
    assert [(f.severity, f.rule, f.row, f.field) for f in src.findings] == [
        ("warning", "merged_cells", 2, "local_job_title"),
        ("warning", "merged_cells", 5, "contract_type"),
    ]
    assert "cells B2:B4 (rows 2-4) are merged" in src.findings[0].message


def test_cells_read_as_empty_are_found_across_the_reads_of_a_long_sheet(tmp_path, monkeypatch):
    """The sheet's XML is read in chunks cut after a whole cell: with chunks of a few dozen
    bytes, errors and uncalculated formulas are found exactly as in one read."""
    from pipelines.standard import reader

    cells = {"A1": "org_code", "B1": "local_job_title"}
    for r in range(2, 40):
        cells |= {f"A{r}": "RW1", f"B{r}": "Nurse " * (r % 7)}
    cells |= {"B9": "#N/A", "B17": "=1+1", "A30": "#REF!", "B33": '=A33&"x"'}
    path = _workbook(tmp_path / "long.xlsx", cells)
    whole = reader._sheet_cells(path)
    assert whole.errors == [(9, 2), (30, 1)]
    assert whole.uncalculated == [(17, 2), (33, 2)]
    for chunk in (7, 31, 64, 200):
        monkeypatch.setattr(reader, "CHUNK", chunk)
        assert reader._sheet_cells(path) == whole, chunk


def test_shared_formulas_never_calculated_are_found_in_later_chunks(tmp_path, monkeypatch):
    """A shared formula's later cells hold only `<f t="shared" si="0"/>`: found too, even in
    a chunk of the sheet after the one holding the formula; cells with values are not."""
    import re
    import zipfile

    from pipelines.standard import reader

    cells = {"A1": "org_code", "B1": "local_job_title"}
    cells |= {f"A{r}": "RW1" for r in range(2, 30)} | {f"B{r}": "Nurse" for r in range(2, 30)}
    path = _workbook(tmp_path / "shared.xlsx", cells)
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    xml = parts[sheet]
    for r in range(20, 30):
        formula = (
            b'<f t="shared" ref="B20:B29" si="0">A20</f><v/>'
            if r == 20
            else b'<f t="shared" si="0"/>'
        )
        value = b"<v>RW1</v>" if r == 25 else b""
        xml, n = re.subn(
            rb'<c r="B%d"[^>]*>.*?</c>' % r,
            b'<c r="B%d" t="str">%s%s</c>' % (r, formula, value),
            xml,
        )
        assert n == 1
    parts[sheet] = xml
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    expected = [(r, 2) for r in range(20, 30) if r != 25]
    assert reader._sheet_cells(path).uncalculated == expected
    monkeypatch.setattr(reader, "CHUNK", 300)
    assert reader._sheet_cells(path).uncalculated == expected


def test_a_hidden_first_sheet_is_skipped_for_the_first_visible_one(tmp_path):
    """An analyst opening the workbook sees its first visible sheet, not a hidden one (often
    an old copy): that is the sheet read, the warning names the hidden sheets skipped, and an
    Excel error is looked for in the sheet read, not in the first one."""
    from openpyxl import Workbook

    book = Workbook()
    old = book.active
    old.title = "Old"
    for row in (["org_code", "local_job_title"], ["RW9", "#N/A"]):
        old.append(row)
    old.sheet_state = "hidden"
    lookup = book.create_sheet("Lookup")
    lookup.append(["code", "meaning"])
    lookup.sheet_state = "veryHidden"
    data = book.create_sheet("Data")
    for row in (["org_code", "local_job_title"], ["RW1", "Nurse"], ["RW1", "#REF!"]):
        data.append(row)
    book.create_sheet("Notes")["A1"] = "exported by someone"
    book.save(tmp_path / "hidden.xlsx")
    src, rows = _read_xlsx(tmp_path / "hidden.xlsx")
    assert rows == [("RW1", "Nurse"), ("RW1", None)]
    assert [(f.rule, f.row, f.field) for f in src.findings] == [
        ("several_sheets", None, None),
        ("excel_error", 3, "local_job_title"),
    ]
    assert "first visible one, 'Data', was read" in src.findings[0].message
    assert "'Old', 'Lookup'" in src.findings[0].message


def test_a_workbook_with_every_sheet_hidden_is_refused(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["org_code"])
    book.create_sheet("Other").append(["org_code"])
    book.save(tmp_path / "all_hidden.xlsx")
    # openpyxl will not save a workbook with no visible sheet: hide them in its XML instead.
    import zipfile

    src_zip = zipfile.ZipFile(tmp_path / "all_hidden.xlsx")
    with zipfile.ZipFile(tmp_path / "hidden.xlsx", "w") as out:
        for item in src_zip.infolist():
            data = src_zip.read(item.filename)
            if item.filename == "xl/workbook.xml":
                data = data.replace(b'state="visible" r:id', b'state="hidden" r:id')
            out.writestr(item, data)
    src, _ = _read_xlsx(tmp_path / "hidden.xlsx")
    assert [(f.severity, f.rule) for f in src.findings] == [("error", "no_sheet")]
    assert "Unhide the sheet" in src.findings[0].message


def test_a_conditionally_required_column_left_out_fails_where_the_condition_holds(tmp_path):
    """Leaving out the pay band column is no better than leaving it empty: each NHS trust
    row fails the rule (it passed before, when the rule was skipped for a missing column).
    At the hub (submitted form) an absent field is the agreement's minimisation: no check."""
    rows = valid_rows("staff_in_post")
    for r in rows:
        r.pop("pay_band")
    assert {r["sector"] for r in rows} == {"NHS_TRUST"}
    report = _validate(tmp_path, rows)
    assert [(f.rule, f.row, f.found) for f in report.errors] == [
        ("pay_band_for_nhs_trusts", 2, "no column"),
        ("pay_band_for_nhs_trusts", 3, "no column"),
        ("pay_band_for_nhs_trusts", 4, "no column"),
    ], report.render()
    at_hub = _validate(tmp_path, rows, form="submitted").findings
    assert not [f for f in at_hub if f.rule == "pay_band_for_nhs_trusts"]
    assert "has no pay_band column: add it" in report.errors[0].message


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_delimiter_only_records_after_the_data_are_not_rows(tmp_path, encoding):
    """Excel writes ",,,," for formatted cells below the data: at the end of a CSV those are
    not rows (as blank rows after a workbook's data are not); one inside the data still is,
    and keeps its number. (They were 3 more rows, each failing every required field.)"""
    rows = valid_rows("staff_in_post")
    if encoding == "cp1252":
        rows[0]["local_job_title"] = "Café nurse"
    path = write_csv(tmp_path / "commas.csv", rows, encoding=encoding)
    blank = b"," * (len(rows[0]) - 1)
    path.write_bytes(path.read_bytes() + (blank + b"\r\n") * 3)
    report = validate_file(path, "staff_in_post")
    assert report.ok and report.rows == 3, report.render()
    lines = path.read_bytes().splitlines()
    path.write_bytes(b"\r\n".join([*lines[:3], blank, *lines[3:]]) + b"\r\n")
    report = validate_file(path, "staff_in_post")
    assert report.rows == 4
    assert {f.row for f in report.errors} == {4}, report.render()


@pytest.mark.parametrize("band, ok", [("35-39", True), ("20-24", False), ("", True)])
def test_an_age_band_the_date_of_birth_contradicts_is_an_error(tmp_path, band, ok):
    """Found in review: born 1978, age band 20-24: the package carried 20-24 while the receipt
    said the band was worked out from the date of birth. Born 1990-05-01, 36 at the end of
    2026-09: 35-39 (or no band, worked out) passes; another band is a warning, and the
    package carries 35-39 (tests/integration/test_submission.py)."""
    report = _plant(tmp_path, "age_band", band)
    hits = [f for f in report.findings if f.rule == "age_band_contradicts_date_of_birth"]
    assert [(f.row, f.field, f.severity) for f in hits] == (
        [] if ok else [(3, "age_band", "warning")]
    )
    assert report.ok
    assert all("1990" not in f.message and "1990" not in str(f.found) for f in hits)


def test_the_data_on_a_second_sheet_is_named_and_read_with_sheet(tmp_path):
    """Found in review: a workbook with a notes sheet first and the data on 'Data' was refused
    with 'export the file with its column headings in the first row', and there was no way
    to read the second sheet. Now the refusal names the sheet with the headings, and --sheet
    reads it; a sheet that does not exist is named with the ones that do."""
    from openpyxl import Workbook

    from pipelines.errors import OwfError

    rows = valid_rows("staff_in_post")
    book = Workbook()
    notes = book.active
    notes.title = "Notes"
    notes["A1"] = "Staff in post export, September"
    data = book.create_sheet("Data")
    data.append(list(rows[0]))
    for r in rows:
        data.append(list(r.values()))
    path = tmp_path / "two.xlsx"
    book.save(path)

    [finding] = validate_file(path, "staff_in_post").errors
    assert finding.rule == "no_header"
    assert "Sheet 'Data' has the headings: give --sheet 'Data'" in finding.message
    report = validate_file(path, "staff_in_post", sheet="Data")
    assert report.ok and report.rows == len(rows), report.render()
    [missing] = validate_file(path, "staff_in_post", sheet="data").errors
    assert missing.rule == "no_sheet" and "'Notes', 'Data'" in missing.message
    csv_file = write_csv(tmp_path / "sip.csv", rows)
    with pytest.raises(OwfError, match="--sheet names a worksheet of an .xlsx workbook"):
        validate_file(csv_file, "staff_in_post", sheet="Data")


@pytest.mark.parametrize(
    "value, found",
    [
        ("31/06/2020", "a date written day/month/year that is not in the calendar"),
        ("04/25/2020", "a date written day/month/year that is not in the calendar (or written month/day/year)"),
        ("25/04/2020", "a date written day/month/year"),
        ("2020-02-30", "a date written year-month-day that is not in the calendar"),
    ],
)  # fmt: skip
def test_a_date_that_does_not_exist_is_described_as_such(tmp_path, value, found):
    """Found in review: 31/06/2020 was described as 'a date written day/month/year', and the
    analyst told to write dates YYYY-MM-DD, as if the format were the fault."""
    report = _plant(tmp_path, "assignment_start_date", value)
    [finding] = _only(report, "type_date")
    assert str(finding.found).startswith(found) and value not in str(finding.found)
    if found.endswith("day/month/year"):
        assert "calendar" not in str(finding.found)


def test_a_row_repeating_the_header_is_one_error_not_one_per_field(tmp_path):
    """Found in review: two exports joined into one file gave 18 errors on the repeated
    header's row, one per field's rule."""
    rows = valid_rows("staff_in_post", 4)
    path = write_csv(tmp_path / "joined.csv", rows)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + [lines[0]] + lines[3:]) + "\n")
    report = validate_file(path, "staff_in_post")
    assert [(f.rule, f.row) for f in report.errors] == [("repeated_header", 4)]
    assert report.rows == 4  # the data rows, not the repeated header


def test_a_repeated_header_with_odd_spaces_in_its_headings_is_still_a_repeated_header(tmp_path):
    """A heading written with a non-breaking or zero-width space matches its field (header_key);
    the same heading repeated mid-file must match too (it did not: 18 errors on the row)."""
    rows = valid_rows("staff_in_post", 4)
    path = write_csv(tmp_path / "joined.csv", rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    first, second, rest = lines[0].split(",", 2)
    # A leading non-breaking space, and a zero-width space inside (header_key drops both).
    header = ",".join(["\u00a0" + first, "  " + second[:2].upper() + "\u200b" + second[2:], rest])
    path.write_text("\n".join([header, *lines[1:3], header, *lines[3:]]) + "\n", encoding="utf-8")
    report = validate_file(path, "staff_in_post")
    assert [(f.rule, f.row) for f in report.errors] == [("repeated_header", 4)]
    assert report.rows == 4


def test_row_numbers_are_right_whatever_was_asked_before():
    """Row numbers are slices of one array kept for the process, grown when a longer run is
    asked for: each call still gets 2 to n + 1, before and after the array grows."""
    from pipelines.standard.reader import row_numbers

    for n in (3, 0, 70_000, 5, 200_001, 1, 70_000):
        rows = row_numbers(n)
        assert len(rows) == n
        assert rows.to_pylist() == list(range(2, n + 2))


def test_numbering_rows_does_not_make_the_submission_tool_import_pandas():
    """pandas costs a cold `owf submit prepare` about 0.2 s to import, and pyarrow imports it
    for any `pa.array` of a Python list, even an empty one: found in review, the row numbers'
    first, empty array did exactly that when the module was imported."""
    import subprocess
    import sys

    code = (
        "import sys; from pipelines.submission import prepare;"
        " from pipelines.standard.reader import row_numbers; row_numbers(5); row_numbers(70);"
        " print('pandas' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "False"
