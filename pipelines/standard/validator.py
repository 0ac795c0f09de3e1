"""Validate an extract against the common workforce data standard.

Every check is one set-based DuckDB query over the whole table: no Python loop over rows.
A failure names the file, the row (header = row 1), the field and the rule, and describes the
kind of value found without echoing it: for identifying fields we say "letters and digits,
9 characters", never the value. Codes of non-identifying fields are shown, since an analyst
needs to see that "Perm" is not "PERMANENT".

Two forms of an extract are validated:
- "source": what an organisation holds (NI numbers, local assignment numbers, maybe dates of
  birth), checked by `owf submit check` and `owf standard validate` before anything leaves;
- "submitted": what travels in a package (pseudonyms, age bands), checked again at the hub.

SQL text is assembled only from identifiers defined in the standard (each passes `qi`, which
admits nothing but [a-z_][a-z0-9_]*) and from constants in this module. Every value that
varies at run time - patterns, codes, the expected organisation or period - is a bound
parameter, and columns from a user's file are loaded under positional names (c0, c1, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.errors import Finding, OwfError, counted
from pipelines.standard.model import (
    NI_NUMBER_PATTERN,
    NI_UNALLOCATED_PREFIXES,
    PSEUDONYM_PATTERN,
    SOURCE,
    SUBMITTED,
    Condition,
    Extract,
    Field,
    Standard,
    load_standard,
)
from pipelines.standard.reader import (
    READERS,
    LoadedSource,
    column_label,
    column_phrase,
    header_findings,
    header_key,
    mostly_unknown,
    no_header_finding,
    select_into,
)

DEFAULT_MAX_ROWS_PER_RULE = 1000
_IDENT = re.compile(r"[a-z_][a-z0-9_]*")

# Shapes of values, so a report can say what was found without echoing it.
VALUE_KIND_MACRO = r"""
CREATE OR REPLACE TEMP MACRO owf_value_kind(v) AS CASE
    WHEN v IS NULL THEN 'empty'
    WHEN regexp_full_match(v, '[0-9]+') THEN 'a whole number of ' || length(v) || ' digits'
    WHEN regexp_full_match(v, '-[0-9]+') THEN 'a negative whole number'
    WHEN regexp_full_match(v, '-?[0-9]*[.][0-9]+') THEN 'a decimal number'
    WHEN regexp_full_match(v, '-?[0-9]{1,3}(,[0-9]{3})+([.][0-9]+)?') THEN 'a number with thousands separators'
    WHEN regexp_full_match(v, '-?[0-9]+,[0-9]+') THEN 'a number with a decimal comma'
    WHEN regexp_full_match(v, '[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{4}')
        AND try_strptime(regexp_replace(v, '[.-]', '/', 'g'), '%d/%m/%Y') IS NULL
        THEN 'a date written day/month/year that is not in the calendar (or written month/day/year)'
    WHEN regexp_full_match(v, '[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}') THEN 'a date written day/month/year'
    WHEN regexp_full_match(v, '[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}') AND TRY_CAST(v AS DATE) IS NULL
        THEN 'a date written year-month-day that is not in the calendar'
    WHEN regexp_full_match(v, '[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}') THEN 'a date written year-month-day'
    WHEN regexp_full_match(v, '[0-9]{1,2}-[A-Za-z]{3}-[0-9]{2,4}') THEN 'a date written day-month name-year'
    WHEN regexp_full_match(v, '[0-9]{4}-[0-9]{1,2}') THEN 'a year and month'
    WHEN regexp_full_match(v, '[0-9]{4}[0-9]{2}') THEN 'a six-digit year and month'
    WHEN regexp_full_match(v, '[A-Z]+') THEN 'upper-case letters, ' || length(v) || ' characters'
    WHEN regexp_full_match(v, '[a-z]+') THEN 'lower-case letters, ' || length(v) || ' characters'
    WHEN regexp_full_match(v, '[A-Za-z]+') THEN 'letters, ' || length(v) || ' characters'
    WHEN regexp_full_match(v, '[A-Za-z0-9]+') THEN 'letters and digits, ' || length(v) || ' characters'
    WHEN regexp_full_match(v, '[A-Za-z ]+') THEN 'words, ' || length(v) || ' characters'
    WHEN contains(v, '@') THEN 'text containing @, ' || length(v) || ' characters'
    ELSE 'text, ' || length(v) || ' characters'
END
"""

# Values of non-identifying coded fields may be shown, but only when they cannot be a name,
# an address or an identifier typed into the wrong column (or put there by a shifted column
# or a wrong profile mapping). A value's shape cannot tell "Permanent" from "Whitfield", so a
# word is shown only when it is a spelling of one of the field's codes (case, spaces or
# hyphens for underscores: "Permanent", "fixed term"); otherwise what is shown must look like
# a code or a month, never like words: one or two characters, a short prefix with a number
# of one to three digits ("Band 5", "AFC_99", "B8a", "RW1"), words joined by underscores
# ("NURSES_HV"), or a month ("2026/09", "Sep-26"). Anything else is described ("letters, 9
# characters"): "Flat 4 Rose Court", "12 Acacia Avenue" and "PATEL" are never echoed.
ECHO_SAFE_PATTERN = (
    r"[A-Za-z0-9]{1,2}"
    r"|[A-Za-z&/().+-]{0,12}[ _]?[0-9]{1,3}[A-Za-z]{0,2}"
    r"|[A-Za-z]{1,12}(_[A-Za-z0-9]{1,12}){1,3}"
    r"|[0-9]{1,4}[/ .-][0-9]{1,4}|[A-Za-z]{3}[ -][0-9]{2,4}"
)
BOOLEAN_SPELLINGS = ["Y", "N", "YES", "NO", "TRUE", "FALSE", "0", "1"]

TYPE_PATTERNS = {
    "integer": r"-?[0-9]+",
    # "0.6" and ".6" (some HR systems and Excel formats leave out the leading zero).
    "decimal": r"-?([0-9]+([.][0-9]+)?|[.][0-9]+)",
    "date": r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])",
    "period": r"[0-9]{4}-(0[1-9]|1[0-2])",
    "boolean": r"Y|N",
}

TYPE_HELP = {
    "integer": "must be a whole number (digits only, no thousands separator)",
    "decimal": "must be a number with a point as the decimal separator and no thousands separator",
    "date": "must be a real date written YYYY-MM-DD (for example 2026-03-31)",
    "period": "must be a month written YYYY-MM (for example 2026-03)",
    "boolean": "must be Y or N",
}


def qi(name: str) -> str:
    """Quote an identifier that comes from the standard (never from a user's file)."""
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not a standard identifier: {name!r}")
    return f'"{name}"'


@dataclass
class RuleTotal:
    severity: str
    rule: str
    field: str | None
    message: str
    count: int


@dataclass
class ValidationReport:
    file: str
    extract: str
    form: str
    standard_version: str
    rows: int = 0
    encoding: str | None = None
    findings: list[Finding] = field(default_factory=list)
    totals: list[RuleTotal] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_count(self) -> int:
        """Failures in total, including rows beyond the listing cap."""
        counted = {(t.rule, t.field) for t in self.totals}
        extra = sum(1 for f in self.errors if (f.rule, f.field) not in counted)
        return extra + sum(t.count for t in self.totals if t.severity == "error")

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "extract": self.extract,
            "form": self.form,
            "standard_version": self.standard_version,
            "rows": self.rows,
            "encoding": self.encoding,
            "ok": self.ok,
            "error_count": self.error_count,
            "warning_count": len(self.warnings),
            "totals": [t.__dict__ for t in self.totals],
            "findings": [f.to_dict() for f in self.findings],
        }

    def render(self, max_rows: int = 10) -> str:
        status = "PASSED" if self.ok else "FAILED"
        lines = [
            f"{self.file}: {self.extract} ({self.form} form), standard v{self.standard_version}:"
            f" {status} - {counted(self.rows, 'data row')}, {counted(self.error_count, 'error')},"
            f" {counted(len(self.warnings), 'warning')}"
        ]
        grouped: dict[tuple[str, str, str | None], list[Finding]] = {}
        for f in self.findings:
            grouped.setdefault((f.severity, f.rule, f.field), []).append(f)
        totals = {(t.severity, t.rule, t.field): t for t in self.totals}
        for (severity, rule, fld), items in grouped.items():
            total = totals.get((severity, rule, fld))
            count = total.count if total else len(items)
            where = f" field {fld}" if fld else ""
            lines.append(
                f"  {severity.upper()} [{rule}]{where}: {items[0].message}"
                + (f" ({count:,} rows)" if count > 1 else "")
            )
            for f in items[:max_rows]:
                if f.row is None and not f.found:
                    continue
                detail = f"row {f.row}" if f.row is not None else ""
                if f.found:
                    detail += f": found {f.found}" if detail else f"found {f.found}"
                lines.append(f"      {detail}")
            if count > min(len(items), max_rows):
                lines.append(f"      ... and {count - min(len(items), max_rows):,} more")
        return "\n".join(lines)


@dataclass
class _Check:
    rule: str
    field: str | None
    message: str
    where: str  # SQL predicate over the view
    found: str  # SQL expression describing the value found
    params: dict = field(default_factory=dict)
    severity: str = "error"


_PARAM_REF = re.compile(r"\$(p[0-9]+)\b")


class SqlParams:
    """Collects named parameters so that no value is ever spliced into SQL text."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def add(self, value: object) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"

    def used_in(self, sql: str) -> dict[str, object]:
        """The parameters `sql` refers to (DuckDB refuses any it does not use)."""
        return {name: self.values[name] for name in _PARAM_REF.findall(sql)}


def _condition_sql(cond: Condition, params: SqlParams) -> str:
    col = qi(cond.field)
    if cond.in_ is not None:
        return f"({col} IS NOT NULL AND list_contains({params.add(list(cond.in_))}, {col}))"
    if cond.not_in is not None:
        return f"({col} IS NOT NULL AND NOT list_contains({params.add(list(cond.not_in))}, {col}))"
    return f"(TRY_CAST({col} AS DOUBLE) > {params.add(float(cond.greater_than))})"


def _found_sql(f: Field, col: str, std: Standard, params: SqlParams) -> str:
    """SQL for what a finding shows of the value: the value itself only where
    ECHO_SAFE_PATTERN or the field's own codes allow it (see there), else its kind."""
    kind = f"owf_value_kind(CAST({col} AS VARCHAR))"
    if f.classification == "other" and f.type in ("code", "boolean", "period", "string"):
        v = f"CAST({col} AS VARCHAR)"
        safe = f"regexp_full_match({v}, {params.add(ECHO_SAFE_PATTERN)})"
        spellings = None
        if f.type == "code" and f.codelist:
            spellings = _codes(std, f.codelist)
        elif f.type == "boolean":
            spellings = BOOLEAN_SPELLINGS
        if spellings:
            as_code = f"upper(regexp_replace(trim({v}), '[ -]+', '_', 'g'))"
            safe += f" OR list_contains({params.add(spellings)}, {as_code})"
        return f"CASE WHEN {safe} THEN 'value \"' || {v} || '\"' ELSE {kind} END"
    return kind


def _codes_hint(std: Standard, codelist: str) -> str:
    codes = std.codes(codelist)
    if len(codes) <= 12:
        return f" ({', '.join(codes)})"
    return f" (see code list '{codelist}' in the data dictionary)"


# Control characters but tab, line feed and carriage return (RE2 syntax).
CONTROL_CHARACTERS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"


def build_checks(
    std: Standard,
    extract: Extract,
    form: str,
    columns: dict[str, str],
    params: SqlParams,
    expected_org: str | None = None,
    expected_period: str | None = None,
) -> list[_Check]:
    """Checks for the fields present. `columns` maps field name -> DuckDB type of the column."""
    checks: list[_Check] = []
    present = set(columns)
    for f in extract.fields_in(form):
        if f.name not in present:
            continue
        col = qi(f.name)
        is_text = columns[f.name] == "VARCHAR"
        found = _found_sql(f, col, std, params)
        nz = f"{col} IS NOT NULL"

        # Required (an alternative field at source can stand in, e.g. date of birth).
        if f.required:
            alt = f.source_alternative if form == SOURCE else None
            where = f"{col} IS NULL"
            message = f"{f.name} is required but empty on this row: fill it in."
            if alt and alt in present:
                where += f" AND {qi(alt)} IS NULL"
                message = f"{f.name} (or {alt}) is required but both are empty: fill one in."
            checks.append(_Check("required", f.name, message, where, "'empty'"))

        ok_type = "TRUE"
        if f.type == "identifier":
            if form == SOURCE and f.identifier == "ni_number":
                norm = f"upper(replace({col}, ' ', ''))"
                bad = (
                    f"NOT regexp_full_match({norm}, {params.add(NI_NUMBER_PATTERN)})"
                    f" OR list_contains({params.add(list(NI_UNALLOCATED_PREFIXES))}, left({norm}, 2))"
                )
                checks.append(
                    _Check(
                        "ni_number",
                        f.name,
                        f"{f.name} must be a valid National Insurance number: two letters, six"
                        " digits and a suffix A-D (spaces allowed); temporary numbers and"
                        " unallocated prefixes are not valid. Correct it in the HR system.",
                        f"{nz} AND ({bad})",
                        found,
                    )
                )
            elif form == SOURCE:
                checks.append(
                    _Check(
                        "pattern",
                        f.name,
                        f"{f.name} must be 1-30 letters, digits, '/' or '-'.",
                        f"{nz} AND NOT regexp_full_match({col}, {params.add(f.pattern)})",
                        found,
                    )
                )
            else:
                checks.append(
                    _Check(
                        "pseudonym",
                        f.name,
                        f"{f.name} must be a 64-character lower-case hexadecimal pseudonym."
                        " Packages must be made with `owf submit prepare`, which pseudonymises"
                        " identifiers at source.",
                        f"{nz} AND NOT regexp_full_match(CAST({col} AS VARCHAR),"
                        f" {params.add(PSEUDONYM_PATTERN)})",
                        found,
                    )
                )
        elif f.type in TYPE_PATTERNS and is_text:
            pattern = params.add(TYPE_PATTERNS[f.type])
            ok_type = f"regexp_full_match({col}, {pattern})"
            if f.type == "date":
                ok_type += f" AND TRY_CAST({col} AS DATE) IS NOT NULL"
            checks.append(
                _Check(
                    f"type_{f.type}",
                    f.name,
                    f"{f.name} {TYPE_HELP[f.type]}.",
                    f"{nz} AND NOT ({ok_type})",
                    found,
                )
            )
        if f.type == "code":
            checks.append(
                _Check(
                    "codelist",
                    f.name,
                    f"{f.name} must be a code from the standard's code list"
                    f"{_codes_hint(std, f.codelist)}.",
                    f"{nz} AND NOT list_contains({params.add(_codes(std, f.codelist))},"
                    f" CAST({col} AS VARCHAR))",
                    found,
                )
            )
        if f.type == "string" and f.pattern:
            checks.append(
                _Check(
                    "pattern",
                    f.name,
                    f"{f.name} does not have the required form ({_describe_pattern(f)}).",
                    f"{nz} AND NOT regexp_full_match({col}, {params.add(f.pattern)})",
                    found,
                )
            )
        if f.max_length:
            checks.append(
                _Check(
                    "max_length",
                    f.name,
                    f"{f.name} must be at most {f.max_length} characters.",
                    f"{nz} AND length({col}) > {int(f.max_length)}",
                    found,
                )
            )
        if f.type == "string" and not f.pattern and not f.codelist and is_text:
            # Free text (a job title): a pattern or code list already refuses these. A NUL or
            # other control character is a damaged export, not a title; PostgreSQL cannot
            # even store a NUL. Tabs and line breaks (a cell typed on two lines) are allowed:
            # the hub's title normalisation reads them as spaces.
            checks.append(
                _Check(
                    "control_character",
                    f.name,
                    f"{f.name} holds a control character (a NUL byte or similar, invisible on"
                    " screen: usually a damaged export or a value pasted from another program)."
                    " Remove it in the source system, or export again.",
                    f"{nz} AND regexp_matches({col}, {params.add(CONTROL_CHARACTERS)})",
                    found,
                )
            )
        if f.type in ("integer", "decimal"):
            number = f"TRY_CAST({col} AS DOUBLE)"
            guard = f"{nz} AND ({ok_type})"
            if f.min is not None:
                checks.append(
                    _Check(
                        "min",
                        f.name,
                        f"{f.name} must be at least {f.min:g}.",
                        f"{guard} AND {number} < {params.add(float(f.min))}",
                        found,
                    )
                )
            if f.max is not None:
                checks.append(
                    _Check(
                        "max",
                        f.name,
                        f"{f.name} must be at most {f.max:g}.",
                        f"{guard} AND {number} > {params.add(float(f.max))}",
                        found,
                    )
                )
        if f.name == "org_code" and expected_org:
            checks.append(
                _Check(
                    "org_code_mismatch",
                    f.name,
                    f"org_code must be {expected_org}, the organisation this extract is"
                    " submitted for: an extract holds one organisation's data.",
                    f"{nz} AND {col} <> {params.add(expected_org)}",
                    found,
                )
            )
        if f.name == "period" and expected_period:
            checks.append(
                _Check(
                    "period_mismatch",
                    f.name,
                    f"period must be {expected_period}, the period this extract is submitted"
                    " for: an extract holds one month.",
                    f"{nz} AND CAST({col} AS VARCHAR) <> {params.add(expected_period)}",
                    found,
                )
            )
        if f.derives and form == SOURCE and f.type == "date" and "period" in present:
            # Date of birth: the derived age at the period end must be a working age.
            checks.append(
                _Check(
                    "implausible_age",
                    f.name,
                    f"{f.name} gives an age outside 14-100 at the end of the period: check it.",
                    # The age in whole years on the last day of the period, as the age band
                    # is derived (date_diff would count year boundaries crossed instead).
                    f"{nz} AND TRY_CAST({col} AS DATE) IS NOT NULL AND period IS NOT NULL"
                    f" AND TRY_CAST(period || '-01' AS DATE) IS NOT NULL AND NOT date_part('year',"
                    f" age(last_day(TRY_CAST(period || '-01' AS DATE)), TRY_CAST({col} AS DATE)))"
                    " BETWEEN 14 AND 100",
                    "'a date of birth'",
                )
            )
            if f.derives in present and f.derives in std.codelists:
                # Both given and they disagree: the band is worked out from the date of birth
                # (the age on the last day of the period, the standard's definition), which
                # `owf submit prepare` does, and the analyst is told, since one of them is
                # wrong. A warning, not an error: an HR system that works bands out on the
                # day of the export differs for everyone with a birthday in between.
                age = (
                    "date_part('year', age(last_day(TRY_CAST(period || '-01' AS DATE)),"
                    f" TRY_CAST({col} AS DATE)))"
                )
                cl = std.codelists[f.derives]
                band = (
                    "CASE "
                    + " ".join(
                        f"WHEN {age} BETWEEN {int(r['min_age'])} AND {int(r['max_age'])}"
                        f" THEN {params.add(str(r[cl.key]))}"
                        for r in cl.rows
                        if r.get("min_age") not in (None, "") and r.get("max_age") not in (None, "")
                    )
                    + " END"
                )
                given = qi(f.derives)
                checks.append(
                    _Check(
                        f"{f.derives}_contradicts_{f.name}",
                        f.derives,
                        f"{f.derives} is not the band {f.name} gives at the end of the period"
                        f" (the standard's age): the package carries the band worked out from"
                        f" {f.name}. Check which is wrong; leave {f.derives} empty to have it"
                        " worked out without this warning.",
                        f"{nz} AND {given} IS NOT NULL AND TRY_CAST(period || '-01' AS DATE)"
                        f" IS NOT NULL AND TRY_CAST({col} AS DATE) IS NOT NULL"
                        f" AND ({band}) IS NOT NULL AND CAST({given} AS VARCHAR) <> ({band})",
                        "'an age band and a date of birth that disagree'",
                        severity="warning",
                    )
                )

    source_fields = {f.name for f in extract.fields_in(SOURCE)} if form == SOURCE else set()
    for r in extract.rules:
        if r.field not in present:
            # A column left out holds no value at all: where the rule's condition holds, that
            # is as much a failure as the column left empty (which fails row by row).
            if r.kind == "required_if" and r.field in source_fields and r.when.field in present:
                checks.append(
                    _Check(
                        r.id,
                        r.field,
                        f"{r.field} is required when {r.when.describe()}: {r.description} The"
                        f" file has no {r.field} column: add it, or map it in the profile.",
                        _condition_sql(r.when, params),
                        "'no column'",
                    )
                )
            continue
        f = extract.field(r.field)
        col = qi(r.field)
        found = _found_sql(f, col, std, params)
        if r.kind == "required_if":
            if r.when.field not in present:
                continue
            checks.append(
                _Check(
                    r.id,
                    r.field,
                    f"{r.field} is required when {r.when.describe()}: {r.description}",
                    f"{col} IS NULL AND {_condition_sql(r.when, params)}",
                    "'empty'",
                )
            )
        elif r.kind == "not_greater_than":
            if r.other not in present:
                continue
            checks.append(
                _Check(
                    r.id,
                    r.field,
                    f"{r.field} is greater than {r.other}: {r.description}",
                    # Only numbers the type check accepts are compared: text such as "NaN"
                    # (which DuckDB reads as greater than every number) or "1e3" fails that
                    # check, and is not reported a second time here.
                    f"{_number_sql(extract.field(r.field), col, columns, params)}"
                    f" > {_number_sql(extract.field(r.other), qi(r.other), columns, params)}",
                    f"'{r.field} above {r.other}'",
                )
            )
        elif r.kind in ("date_in_period", "date_not_after_period_end"):
            if "period" not in present:
                continue
            day = f"TRY_CAST({col} AS DATE)"
            start = "TRY_CAST(CAST(period AS VARCHAR) || '-01' AS DATE)"
            if r.kind == "date_in_period":
                bad = f"({day} < {start} OR {day} > last_day({start}))"
                where_text, found_text = "falls outside the period", "a date outside the period"
            else:
                bad = f"{day} > last_day({start})"
                where_text = "is after the end of the period"
                found_text = "a date after the end of the period"
            checks.append(
                _Check(
                    r.id,
                    r.field,
                    f"{r.field} {where_text}: {r.description}",
                    f"{day} IS NOT NULL AND {start} IS NOT NULL AND {bad}",
                    f"'{found_text}'",
                )
            )
        elif r.kind == "date_not_before":
            day = f"TRY_CAST({col} AS DATE)"
            earliest = f"CAST({params.add(r.value)} AS DATE)"
            checks.append(
                _Check(
                    r.id,
                    r.field,
                    f"{r.field} is before {r.value}: {r.description}",
                    f"{day} IS NOT NULL AND {day} < {earliest}",
                    f"'a date before {r.value}'",
                )
            )
        elif r.kind == "only_if":
            if r.when.field not in present:
                continue
            checks.append(
                _Check(
                    r.id,
                    r.field,
                    f"{r.field} may be {r.value} only when {r.when.describe()}: {r.description}",
                    f"{col} = {params.add(r.value)} AND NOT {_condition_sql(r.when, params)}",
                    found,
                )
            )
        else:  # pragma: no cover - the schema admits only the kinds above
            raise OwfError(f"rule kind {r.kind} is not implemented")
    return checks


def _number_sql(f: Field, col: str, columns: dict[str, str], params: SqlParams) -> str:
    """`col` as a DOUBLE, or NULL where it is text that is not a number of `f`'s type."""
    if columns.get(f.name) != "VARCHAR" or f.type not in ("integer", "decimal"):
        return f"TRY_CAST({col} AS DOUBLE)"
    pattern = params.add(TYPE_PATTERNS[f.type])
    return f"CASE WHEN regexp_full_match({col}, {pattern}) THEN CAST({col} AS DOUBLE) END"


def _describe_pattern(f: Field) -> str:
    if f.name == "org_code":
        return "an ODS code: 3 to 6 upper-case letters or digits"
    if f.name == "occupation_code":
        return "an NHS occupation code: 3 upper-case letters or digits"
    return f"pattern {f.pattern}"


def _codes(std: Standard, codelist: str) -> list[str]:
    """A code list's codes, bound as a list parameter of the check that uses it.

    A list, not a table: the standard's code lists are short (at most a few dozen codes in
    the fields that use them), where `list_contains` is as quick as a join, and a connection
    needs no tables made first (that took 0.05 s of every `owf submit prepare`)."""
    cl = std.codelists[codelist]
    return [str(r[cl.key]) for r in cl.rows]


def validate_relation(
    con: duckdb.DuckDBPyConnection,
    view: str,
    extract: Extract,
    *,
    form: str,
    display: str,
    std: Standard,
    expected_org: str | None = None,
    expected_period: str | None = None,
    max_rows_per_rule: int = DEFAULT_MAX_ROWS_PER_RULE,
) -> tuple[list[Finding], list[RuleTotal]]:
    """Run every field, rule and key check over `view`, which must have a `__row` column and
    one column per standard field present (text or already typed)."""
    if not _IDENT.fullmatch(view):
        raise ValueError(f"not a safe view name: {view!r}")
    described = con.execute(f"DESCRIBE {view}").fetchall()
    columns = {name: ctype for name, ctype, *_ in described if name != "__row"}
    con.execute(VALUE_KIND_MACRO)  # CREATE OR REPLACE: the same macro every time
    params = SqlParams()
    checks = build_checks(std, extract, form, columns, params, expected_org, expected_period)
    findings: list[Finding] = []
    totals: list[RuleTotal] = []
    if checks:
        # One pass finds the failing rows of every check: each row gives the numbers of the
        # checks whose condition is true for it (a condition that is false or NULL gives
        # none, as in a WHERE). One scan rather than one per check: quicker, and when the
        # view is an Arrow table (select_into) it takes Python's lock once a batch, not once
        # a batch for every check, which matters while pseudonyms are hashed beside it. The
        # kind of value found is worked out afterwards, and only for the rows listed.
        failed = ", ".join(f"CASE WHEN {c.where} THEN {i} END" for i, c in enumerate(checks))
        con.execute("DROP TABLE IF EXISTS owf_failures")
        con.execute(
            "CREATE TEMP TABLE owf_failures AS SELECT check_no, __row FROM (SELECT __row,"  # noqa: S608
            f" unnest(list_filter([{failed}], lambda n: n IS NOT NULL)) AS check_no FROM {view})",
            params.used_in(failed),
        )
        _collect(con, view, checks, params, display, max_rows_per_rule, findings, totals)
    key_findings, key_total = _duplicate_keys(
        con, view, extract, columns, display, max_rows_per_rule
    )
    findings.extend(key_findings)
    if key_total:
        totals.append(key_total)
    return findings, totals


def _collect(con, view, checks, params, display, cap, findings, totals) -> None:
    counts = con.execute(
        "SELECT check_no, count(*) FROM owf_failures GROUP BY check_no ORDER BY check_no"
    ).fetchall()
    for check_no, n in counts:
        c = checks[check_no]
        totals.append(RuleTotal(c.severity, c.rule, c.field, c.message, n))
        limit = "" if cap <= 0 else f"LIMIT {int(cap)}"
        rows = con.execute(
            f"SELECT v.__row, {c.found} FROM {view} v SEMI JOIN"  # noqa: S608
            f" (SELECT __row FROM owf_failures WHERE check_no = {int(check_no)}"
            f" ORDER BY __row {limit}) f ON v.__row = f.__row ORDER BY v.__row",
            params.used_in(c.found),
        ).fetchall()
        for row, found in rows:
            findings.append(
                Finding(c.severity, c.rule, c.message, display, int(row), c.field, found)
            )
    con.execute("DROP TABLE IF EXISTS owf_failures")


def _duplicate_keys(con, view, extract, columns, display, cap):
    if not all(k in columns for k in extract.key):
        return [], None
    keys = ", ".join(qi(k) for k in extract.key)
    # Almost every extract has no duplicate: a grouping, which every thread can share, says
    # so; the window that lists them (one thread per key) runs only when there are some.
    if not con.execute(
        f"SELECT EXISTS (SELECT 1 FROM {view} GROUP BY {keys} HAVING count(*) > 1)"  # noqa: S608
    ).fetchall()[0][0]:
        return [], None
    limit = "" if cap <= 0 else f"LIMIT {int(cap)}"
    sql = (
        f"SELECT __row, first_row, count(*) OVER () AS n FROM ("  # noqa: S608
        f" SELECT __row, min(__row) OVER w AS first_row, count(*) OVER w AS dupes FROM {view}"
        f" WINDOW w AS (PARTITION BY {keys})) WHERE dupes > 1 AND __row <> first_row"
        f" ORDER BY __row {limit}"
    )
    rows = con.execute(sql).fetchall()
    if not rows:
        return [], None
    message = (
        f"the key ({', '.join(extract.key)}) must be unique: {extract.grain}."
        " Remove or merge the duplicate rows."
    )
    field_name = "+".join(extract.key)
    findings = [
        Finding(
            "error",
            "duplicate_key",
            message,
            display,
            int(r),
            field_name,
            f"the same key as row {first}",
        )
        for r, first, _ in rows
    ]
    return findings, RuleTotal("error", "duplicate_key", field_name, message, int(rows[0][2]))


def check_header(
    header: list[str], extract: Extract, form: str, display: str
) -> tuple[dict[str, int], list[Finding]]:
    """Match header names to standard fields (case and surrounding spaces ignored).

    Returns field -> position, and findings for missing required and unknown columns.
    """
    findings: list[Finding] = []
    by_lower = {f.name.lower(): f for f in extract.fields}
    positions: dict[str, int] = {}
    if header and not any(header_key(name) in by_lower for name in header):
        return positions, [no_header_finding(header, standard_header_names(extract)[1], display)]
    findings += header_findings(header, display)
    quote = not mostly_unknown(header, set(by_lower))
    for i, name in enumerate(header):
        f = by_lower.get(header_key(name))
        if f is None:
            findings.append(
                Finding(
                    "error",
                    "unknown_column",
                    f"{column_phrase(name, i + 1, quote=quote)} is not a field of"
                    f" {extract.name} in the standard. Remove it (names, addresses and free text"
                    " must never be submitted), or map it to a standard field with a mapping"
                    " profile.",
                    display,
                    1,
                    column_label(name, i + 1, quote=quote),
                )
            )
        elif not f.in_form(form):
            findings.append(
                Finding(
                    "error",
                    "not_in_submitted_form",
                    f"column {f.name!r} is accepted at source only and must not be in a"
                    f" submission (it is turned into {f.derives or 'something else'} first).",
                    display,
                    1,
                    f.name,
                )
            )
        else:
            positions.setdefault(f.name, i)
    for f in extract.fields_in(form):
        if f.name in positions or not f.required:
            continue
        alt = f.source_alternative if form == SOURCE else None
        if alt and alt in positions:
            continue
        either = f" (or {alt})" if alt else ""
        findings.append(
            Finding(
                "error",
                "missing_column",
                f"required column {f.name!r}{either} is missing from the header. Add it; the"
                " data dictionary lists every field of this extract.",
                display,
                1,
                f.name,
            )
        )
    return positions, findings


def month_of_first_day_sql(x: str) -> str:
    """SQL turning a period that a spreadsheet stored as the month's first day back into the
    month: a date cell of an XLSX ("2026-09-01", as the reader writes it) or a CSV saved from
    Excel after it converted the column ("01/09/2026", UK order). Only the first of a month
    is read so: any other day is left for validation to refuse, and the period must still
    match the one given (period_mismatch). Patterns are constants of this module."""
    return (
        f"regexp_replace(regexp_replace({x}, '^([0-9]{{4}})-([0-9]{{2}})-01$', '\\1-\\2'),"
        f" '^01[/.-]([0-9]{{2}})[/.-]([0-9]{{4}})$', '\\2-\\1')"
    )


def create_field_view(
    con: duckdb.DuckDBPyConnection,
    src: LoadedSource,
    view: str,
    positions: dict[str, int],
    normalise_ni: Iterable[str] = (),
    periods: Iterable[str] = (),
) -> list[Finding]:
    """`view`: `__row` (spreadsheet row) and each field, trimmed, empty text as NULL.

    Stored once (`select_into`): the checks read it dozens of times, and planning the
    trimming expressions once per check cost more than the checks themselves. For a deferred
    CSV this is where the file is read (see `select_into`, whose findings it returns).

    Fields in `normalise_ni` hold NI numbers at source: upper-cased with spaces removed, so
    that "ab 12 34 56 c" and "AB123456C" are the same person. Fields in `periods` take a
    month's first day as the month (month_of_first_day_sql).
    """
    normalise_ni, periods = set(normalise_ni), set(periods)

    def expr(name: str, i: int) -> str:
        value = f"nullif(trim(c{int(i)}), '')"
        if name in normalise_ni:
            value = f"nullif(upper(replace(c{int(i)}, ' ', '')), '')"
        if name in periods:
            value = month_of_first_day_sql(value)
        return f"{value} AS {qi(name)}"

    return select_into(con, src, view, ", ".join(expr(name, i) for name, i in positions.items()))


def empty_extract_finding(extract: Extract, display: str) -> Finding:
    """A header with no rows: normal for some extracts (no leavers this month), not others."""
    if extract.may_be_empty:
        return Finding(
            "warning",
            "no_rows",
            f"the file has a header row but no data rows: fine if there was nothing to report"
            f" for {extract.name} this period; otherwise export it again with its data.",
            display,
            2,
        )
    return Finding(
        "error",
        "no_rows",
        f"the file has a header row but no data rows, and {extract.name} cannot be empty:"
        " export the extract again, including its data.",
        display,
        2,
    )


def period_fields(extract: Extract) -> list[str]:
    """The extract's fields of type period (at source, a spreadsheet may hold them as dates)."""
    return [f.name for f in extract.fields_in(SOURCE) if f.type == "period"]


def ni_fields(extract: Extract, form: str) -> list[str]:
    """Fields holding NI numbers in this form (normalised before checking and hashing)."""
    if form != SOURCE:
        return []
    return [f.name for f in extract.fields if f.identifier == "ni_number"]


def load_source(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    delimiter: str = ",",
    display: str | None = None,
    defer: bool = False,
    progress: Callable[[str], None] | None = None,
    header_names: tuple[set[str], str] | None = None,
    sheet: str | None = None,
) -> LoadedSource:
    """The file as table owf_src (c0..cN), or, with `defer`, a CSV left for `select_into`
    to read and map in one pass (see `pipelines.standard.reader.load_csv`). `progress` hears
    how far a long read has got (a workbook's, in batches). `header_names`: the column names
    (lower case) row 1 should hold, and how to describe them: when it holds none, the file
    is refused at once (no_header), naming the row below that holds them, if one does."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if not path.is_file():
        # Missing, or a folder: the CSV reader's finding says which, whatever the suffix
        # (not "unsupported file type" for a folder named without one).
        reader = READERS[".csv"]
    if reader is None:
        suffix = path.suffix.lower()
        raise OwfError(
            f"{path}: unsupported file type {path.suffix or '(none)'}; use .csv"
            + (" or .xlsx" if ".xlsx" in READERS else "")
            + (
                ". Open it in Excel and save it as 'Excel Workbook (.xlsx)' or 'CSV UTF-8'"
                if suffix in (".xls", ".xlsm", ".xlsb", ".ods", ".numbers")
                else ""
            )
        )
    if sheet is not None and reader is not READERS[".xlsx"]:
        raise OwfError(
            f"{path}: --sheet names a worksheet of an .xlsx workbook; this file is not one"
            " (leave --sheet out)"
        )
    return reader(
        con,
        path,
        "owf_src",
        delimiter=delimiter,
        display=display,
        defer=defer,
        progress=progress,
        header_names=header_names,
        **({"sheet": sheet} if sheet is not None else {}),
    )


def standard_header_names(extract: Extract) -> tuple[set[str], str]:
    """The names row 1 of a standard-format file holds, and their description."""
    return (
        {f.name.lower() for f in extract.fields},
        f"a field name of {extract.name} in the standard (the data dictionary lists them)",
    )


def validate_file(
    path: Path | str,
    extract: str,
    *,
    form: str = SOURCE,
    standard: Standard | None = None,
    delimiter: str = ",",
    expected_org: str | None = None,
    expected_period: str | None = None,
    max_rows_per_rule: int = DEFAULT_MAX_ROWS_PER_RULE,
    con: duckdb.DuckDBPyConnection | None = None,
    sheet: str | None = None,
) -> ValidationReport:
    """Validate a standard-format extract file. Never raises for problems in the file."""
    if form not in (SOURCE, SUBMITTED):
        raise OwfError(f"unknown form {form!r}: use 'source' or 'submitted'")
    std = standard or load_standard()
    ext = std.extract(extract)
    path = Path(path)
    report = ValidationReport(str(path), extract, form, std.version)
    own = con is None
    con = con or duckdb.connect()
    try:
        src = load_source(
            con,
            path,
            delimiter=delimiter,
            header_names=standard_header_names(ext),
            sheet=sheet,
        )
        report.encoding = src.encoding
        report.rows = src.rows
        report.findings.extend(src.findings)
        if not src.ok:
            return report
        positions, found = check_header(src.header, ext, form, src.display)
        report.findings.extend(found)
        if any(f.severity == "error" for f in found):
            return report
        if src.rows == 0:
            report.findings.append(empty_extract_finding(ext, src.display))
            return report
        report.findings.extend(
            create_field_view(
                con,
                src,
                "owf_fields",
                positions,
                normalise_ni=ni_fields(ext, form),
                periods=period_fields(ext) if form == SOURCE else (),
            )
        )
        con.execute(f"DROP TABLE IF EXISTS {src.table}")
        report.rows = src.rows  # without delimiter-only records after the data
        if src.rows == 0:
            report.findings.append(empty_extract_finding(ext, src.display))
            return report
        findings, totals = validate_relation(
            con,
            "owf_fields",
            ext,
            form=form,
            display=src.display,
            std=std,
            expected_org=expected_org,
            expected_period=expected_period,
            max_rows_per_rule=max_rows_per_rule,
        )
        report.findings.extend(findings)
        report.totals.extend(totals)
        return report
    finally:
        if own:
            con.close()


def summarise(reports: Iterable[ValidationReport]) -> dict:
    reports = list(reports)
    return {
        "files": len(reports),
        "passed": sum(r.ok for r in reports),
        "rows": sum(r.rows for r in reports),
        "errors": sum(r.error_count for r in reports),
    }
