"""Scan an outgoing extract for identifiers that must never leave the organisation.

This is the last gate before packaging. The validator checks that each field has the right
shape; this scanner looks for identifiers in the wrong place - an NI number typed into a job
title, a column of NHS numbers mapped onto an amount, an e-mail address in a code field -
and refuses to package if it finds one. It runs on the organisation's machine, over every
outgoing column, as set-based DuckDB SQL: extracts reach 1.5 million rows, so there is no
Python loop over rows.

What counts as an identifier (a "token" is never adjacent to a letter or digit on either
side, so digit runs inside 64-character hexadecimal pseudonyms are never tokens):

- NI number (`pii_ni_number`), every text column: a token of the NI number's shape, any
  case, with or without its suffix letter (the number identifies the person without it),
  grouped "AB 12 34 56 C" or not; a group may be set off by one space, tab, non-breaking or
  other fixed-width space, zero-width space or joiner (what text pasted from a document or
  web page carries), full stop, hyphen, slash, underscore or comma. Once the separators are removed it must pass the standard's own rules
  (NI_NUMBER_PATTERN, the suffix optional, and NI_UNALLOCATED_PREFIXES).
- NHS number (`pii_nhs_number`): a 10-digit token, plain or grouped 3-3-4 with one of the
  same separators between the groups, with a valid modulus-11 check digit. One random number in eleven passes the
  check, so context decides: in text columns every such token is flagged; in integer and
  decimal fields a numeric value is flagged only when the column is dominated by them (at
  least half of its non-null values are 10-digit values and at least 95% of those pass the
  check), which is what a column of NHS numbers looks like and an amount column does not.
- E-mail address (`pii_email`), every text column: local@domain.tld.
- Date (`pii_date_of_birth`), string fields only (free text such as local_job_title):
  dd/mm/yyyy, d/m/yy, dd-mm-yyyy, dd.mm.yyyy, yyyy-mm-dd, yyyy/mm/dd, "1 March 1980",
  "01-Mar-1980". Date-typed fields hold legitimate dates and are not scanned for it.
- UK postcode (`pii_postcode`), string fields only: the Royal Mail format (outward code of
  one or two area letters and a district, optional single space, inward code of a digit and
  two letters from the inward alphabet), any case. An inward code written as a lower-case
  ordinal ("1st", "2nd", "3rd", "4th".."9th", "0th") is read as one, so "ST3 1st on call" and
  "B1 2nd Floor" are job titles, not addresses; "B33 8TH" and "b33 8Th" are postcodes.

A column the caller did not describe in `fields` is scanned as a string field (every rule),
because an outgoing column nobody described is exactly where an identifier hides.

Findings never contain the value found: `found` names the kind ("an NI number"). SQL text is
assembled from standard identifiers (through `qi`), integer positions and constants of this
module; every pattern and list is a bound parameter, as in the validator.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pipelines.errors import Finding
from pipelines.standard.model import NI_NUMBER_PATTERN, NI_UNALLOCATED_PREFIXES
from pipelines.standard.validator import DEFAULT_MAX_ROWS_PER_RULE, RuleTotal, SqlParams, qi

RULE_NI = "pii_ni_number"
RULE_NHS = "pii_nhs_number"
RULE_EMAIL = "pii_email"
RULE_DOB = "pii_date_of_birth"
RULE_POSTCODE = "pii_postcode"
RULES = (RULE_NI, RULE_NHS, RULE_EMAIL, RULE_DOB, RULE_POSTCODE)

FOUND = {
    RULE_NI: "an NI number",
    RULE_NHS: "an NHS number with a valid check digit",
    RULE_EMAIL: "an e-mail address",
    RULE_DOB: "a date (possible date of birth)",
    RULE_POSTCODE: "a UK postcode",
}

WHAT_TO_DO = (
    "remove the identifier from this field in the source system or the mapping;"
    " nothing was packaged."
)

TEXT_TYPES = frozenset({"string", "code", "identifier", "period", "boolean"})
NUMERIC_TYPES = frozenset({"integer", "decimal"})
# Column types whose values cannot spell a token: a typed date is a date, not free text.
_UNSCANNED_COLUMN_TYPES = ("DATE", "TIME", "TIMESTAMP", "BOOLEAN", "INTERVAL")
_NUMERIC_COLUMN_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)

# A column of integer/decimal type is "dominated" by NHS numbers when at least this share of
# its non-null values are 10-digit values and at least this share of those pass the check.
DOMINANT_TEN_DIGIT_SHARE = 0.5
DOMINANT_VALID_SHARE = 0.95

# --- Token patterns (RE2). Each is matched between delimiters, never inside a word. -------
DELIM = "[^A-Za-z0-9]"
# What may set off the groups of an NI or NHS number: a space, a tab, a non-breaking, figure,
# thin or narrow no-break space, a zero-width space, joiner or word joiner (text pasted from
# documents and web pages), a full stop, a hyphen, a slash, an underscore or a comma.
# Removed (with anything else not a letter or digit) before the full match.
_SEP = (
    "[ \\t\\x{00A0}\\x{2007}\\x{2009}\\x{202F}\\x{200B}\\x{200C}\\x{200D}\\x{2060}\\x{FEFF}./_,-]"
)
NI_TOKEN = f"[A-Za-z]{{2}}{_SEP}?[0-9]{{2}}{_SEP}?[0-9]{{2}}{_SEP}?[0-9]{{2}}(?:{_SEP}?[A-Za-z])?"
NHS_TOKEN = f"[0-9]{{10}}|[0-9]{{3}}{_SEP}[0-9]{{3}}{_SEP}[0-9]{{4}}"
# The standard's NI number rule with the suffix letter optional.
NI_SCAN_PATTERN = NI_NUMBER_PATTERN.replace("[A-D]$", "[A-D]?$")
NOT_ALPHANUMERIC = "[^A-Za-z0-9]"
EMAIL_TOKEN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"

_DAY = "(?:0?[1-9]|[12][0-9]|3[01])"
_MONTH = "(?:0?[1-9]|1[0-2])"
_YEAR4 = "(?:19|20)[0-9]{2}"
_YEAR = f"(?:{_YEAR4}|[0-9]{{2}})"
_MONTH_NAME = (
    "(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
# Case-insensitive through the (?i) of the patterns that use it.
DATE_TOKEN = "|".join(
    [
        f"{_DAY}/{_MONTH}/{_YEAR}",
        f"{_DAY}-{_MONTH}-{_YEAR}",
        rf"{_DAY}\.{_MONTH}\.{_YEAR4}",
        f"{_YEAR4}-{_MONTH}-{_DAY}",
        f"{_YEAR4}/{_MONTH}/{_DAY}",
        f"{_DAY}(?:st|nd|rd|th)? {_MONTH_NAME},? {_YEAR4}",
        f"{_DAY}-{_MONTH_NAME}-{_YEAR}",
        f"{_DAY}/{_MONTH_NAME}/{_YEAR}",
    ]
)
# Royal Mail format: area letters exclude Q, V, X first and I, J, Z second; the inward code's
# letters exclude C, I, K, M, O, V. Case-insensitive through (?i).
_OUTWARD = (
    "(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}"
    "|[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])"
)
POSTCODE_TOKEN = f"{_OUTWARD} ?[0-9][ABD-HJLNP-UW-Z]{{2}}|GIR ?0AA"
# Inward codes written as ordinals ("2nd Floor") are not taken for postcodes. Case-sensitive
# on purpose: "B33 8TH" is a real postcode, and an upper-case title ("FY1 2ND") is flagged.
ORDINAL_INWARD = "(?:1st|2nd|3rd|[04-9]th)$"


def _delimited(token: str) -> str:
    """Pattern true when `token` occurs with a delimiter or the text's edge on both sides."""
    return f"(?:^|{DELIM})(?:{token})(?:{DELIM}|$)"


def _extractor(token: str) -> str:
    """Pattern for regexp_extract_all over ' ' || value || ' ', capturing each candidate.

    RE2 has no look-around, so the leading delimiter is consumed and the trailing one is not:
    group 1 is the token plus at most one following letter or digit. A candidate that grew
    that extra character was not delimited on the right and fails the caller's full match;
    a delimiter that is not consumed can start the next token ("AB123456C CE654321A").
    """
    return f"{DELIM}((?:{token})[A-Za-z0-9]?)"


EMAIL_PATTERN = _delimited(EMAIL_TOKEN)
DATE_PATTERN = "(?i)" + _delimited(DATE_TOKEN)
NI_EXTRACT = _extractor(NI_TOKEN)
NHS_EXTRACT = _extractor(NHS_TOKEN)
POSTCODE_EXTRACT = "(?i)" + _extractor(POSTCODE_TOKEN)
POSTCODE_FULL = f"(?i)(?:{POSTCODE_TOKEN})"
TEN_DIGITS = "[0-9]{10}"
# A number written as text that is a 10-digit whole number ("9434765919", "9434765919.00").
TEN_DIGIT_NUMBER = r"^([0-9]{10})(?:\.0*)?$"
# One cheap pass per column picks the few values worth a closer look; a superset of what the
# rules below flag. Pseudonyms, codes and numbers almost never match it.
PREFILTER_TEXT = _delimited(f"{NI_TOKEN}|{NHS_TOKEN}") + "|@"
PREFILTER_STRING = (
    "(?i)" + _delimited(f"{NI_TOKEN}|{NHS_TOKEN}|{DATE_TOKEN}|{POSTCODE_TOKEN}") + "|@"
)

_RULE_NO = {rule: i for i, rule in enumerate(RULES)}


def nhs_check_sql(t: str) -> str:
    """SQL true when `t` (a 10-character string of digits) has a valid NHS check digit.

    Modulus 11: weights 10..2 over the first nine digits, check = 11 - (sum mod 11), where 11
    means 0 and 10 means no valid number. `(11 - s % 11) % 11` maps 11 to 0 and leaves 10,
    which no digit equals. Written out as arithmetic: cheaper than a list per value.
    """
    if not t.isidentifier():
        raise ValueError(f"not a column alias: {t!r}")

    def digit(i: int) -> str:
        return f"(ascii(substr({t}, {i}, 1)) - 48)"

    total = " + ".join(f"{digit(i)} * {11 - i}" for i in range(1, 10))
    return f"((11 - (({total}) % 11)) % 11 = {digit(10)})"


@dataclass(frozen=True)
class _Column:
    no: int
    name: str
    field_type: str  # the standard's type; "string" for a column not described
    column_type: str  # DuckDB type of the column in the view

    @property
    def scanned(self) -> bool:
        """False for typed dates and the like, whose values cannot spell a token."""
        return not self.column_type.startswith(_UNSCANNED_COLUMN_TYPES)

    @property
    def typed_number(self) -> bool:
        return self.column_type.startswith(_NUMERIC_COLUMN_TYPES)

    @property
    def numeric_field(self) -> bool:
        return self.field_type in NUMERIC_TYPES

    @property
    def text_rules(self) -> tuple[str, ...]:
        """Rules applied to the column's text (none for a typed date or a typed number in a
        numeric field, whose text cannot spell an NI number, e-mail address or grouping)."""
        if not self.scanned:
            return ()
        if self.numeric_field:
            return () if self.typed_number else (RULE_NI, RULE_NHS, RULE_EMAIL)
        if self.field_type == "string":
            return RULES
        return (RULE_NI, RULE_NHS, RULE_EMAIL)


def _message(rule: str, field: str, dominated: bool = False) -> str:
    what = {
        RULE_NI: "holds a National Insurance number",
        RULE_NHS: "holds an NHS number (10 digits with a valid check digit)",
        RULE_EMAIL: "holds an e-mail address",
        RULE_DOB: "holds a date, possibly a date of birth",
        RULE_POSTCODE: "holds a UK postcode",
    }[rule]
    if dominated:
        what = (
            "is a numeric field whose values are mostly NHS numbers (10 digits with valid"
            " check digits)"
        )
    return f"{field} {what}, which must never leave the organisation: {WHAT_TO_DO}"


def _ten_digit_sql(c: _Column, params: SqlParams) -> str:
    """SQL giving the value as a 10-digit string when it is a 10-digit whole number."""
    col = qi(c.name)
    if c.typed_number:
        d = f"CAST({col} AS DOUBLE)"
        return (
            f"CASE WHEN {d} >= 1000000000 AND {d} < 10000000000 AND {d} = trunc({d})"
            f" THEN CAST(CAST({d} AS BIGINT) AS VARCHAR) END"
        )
    text = f"trim(CAST({col} AS VARCHAR))"
    return f"nullif(regexp_extract({text}, {params.add(TEN_DIGIT_NUMBER)}, 1), '')"


def _dominated_columns(
    con: duckdb.DuckDBPyConnection, view: str, numeric: list[_Column]
) -> list[_Column]:
    """Numeric columns that look like a column of NHS numbers (one pass over the view)."""
    if not numeric:
        return []
    params = SqlParams()
    inner = ", ".join(
        f"{qi(c.name)} AS v{c.no}, {_ten_digit_sql(c, params)} AS t{c.no}" for c in numeric
    )
    aggs = ", ".join(
        f"count(v{c.no}), count(t{c.no}), count(t{c.no}) FILTER (WHERE {nhs_check_sql(f't{c.no}')})"
        for c in numeric
    )
    sql = f"SELECT {aggs} FROM (SELECT {inner} FROM {qi(view)})"  # noqa: S608
    counts = con.execute(sql, params.values).fetchone()
    dominated = []
    for i, c in enumerate(numeric):
        values, ten, valid = counts[3 * i : 3 * i + 3]
        if (
            valid > 0
            and ten >= DOMINANT_TEN_DIGIT_SHARE * values
            and valid >= DOMINANT_VALID_SHARE * ten
        ):
            dominated.append(c)
    return dominated


def _in(cols: list[_Column]) -> str:
    return f"col_no IN ({', '.join(str(int(c.no)) for c in cols)})"


def _hits_sql(
    view: str, columns: list[_Column], dominated: list[_Column], params: SqlParams
) -> str | None:
    """One query giving (col_no, rule_no, __row) once for every identifier found."""
    by_rule = {rule: [c for c in columns if rule in c.text_rules] for rule in RULES}
    parts: list[str] = []
    cand = "owf_pii_candidates"
    if by_rule[RULE_NI]:
        parts.append(
            f"SELECT col_no, {_RULE_NO[RULE_NI]} AS rule_no, __row FROM ("  # noqa: S608
            f" SELECT col_no, __row, upper(regexp_replace(unnest(regexp_extract_all(' ' || v ||"
            f" ' ', {params.add(NI_EXTRACT)}, 1)), {params.add(NOT_ALPHANUMERIC)}, '', 'g'))"
            f" AS t FROM {cand} WHERE {_in(by_rule[RULE_NI])})"
            f" WHERE regexp_full_match(t, {params.add(NI_SCAN_PATTERN)})"
            f" AND NOT list_contains({params.add(list(NI_UNALLOCATED_PREFIXES))}, left(t, 2))"
        )
    if by_rule[RULE_NHS]:
        text_cols = [c for c in by_rule[RULE_NHS] if not c.numeric_field]
        num_cols = [c for c in by_rule[RULE_NHS] if c.numeric_field]
        # In a numeric field only a value that is not a number is read as text; numbers
        # there are judged column by column (see _dominated_columns).
        which = " OR ".join(
            ([_in(text_cols)] if text_cols else [])
            + ([f"({_in(num_cols)} AND TRY_CAST(v AS DOUBLE) IS NULL)"] if num_cols else [])
        )
        parts.append(
            f"SELECT col_no, {_RULE_NO[RULE_NHS]} AS rule_no, __row FROM ("  # noqa: S608
            f" SELECT col_no, __row, regexp_replace(unnest(regexp_extract_all(' ' || v || ' ',"
            f" {params.add(NHS_EXTRACT)}, 1)), {params.add(NOT_ALPHANUMERIC)}, '', 'g') AS t"
            f" FROM {cand}"
            f" WHERE {which})"
            f" WHERE regexp_full_match(t, {params.add(TEN_DIGITS)}) AND {nhs_check_sql('t')}"
        )
    for c in dominated:
        nhs = _RULE_NO[RULE_NHS]
        parts.append(
            f"SELECT {int(c.no)} AS col_no, {nhs} AS rule_no, __row FROM ("  # noqa: S608
            f" SELECT __row, {_ten_digit_sql(c, params)} AS t FROM {qi(view)})"
            f" WHERE t IS NOT NULL AND {nhs_check_sql('t')}"
        )
    for rule, pattern in ((RULE_EMAIL, EMAIL_PATTERN), (RULE_DOB, DATE_PATTERN)):
        if by_rule[rule]:
            parts.append(
                f"SELECT col_no, {_RULE_NO[rule]} AS rule_no, __row FROM {cand}"  # noqa: S608
                f" WHERE {_in(by_rule[rule])} AND regexp_matches(v, {params.add(pattern)})"
            )
    if by_rule[RULE_POSTCODE]:
        parts.append(
            f"SELECT col_no, {_RULE_NO[RULE_POSTCODE]} AS rule_no, __row FROM ("  # noqa: S608
            f" SELECT col_no, __row, unnest(regexp_extract_all(' ' || v || ' ',"
            f" {params.add(POSTCODE_EXTRACT)}, 1)) AS t FROM {cand}"
            f" WHERE {_in(by_rule[RULE_POSTCODE])})"
            f" WHERE regexp_full_match(t, {params.add(POSTCODE_FULL)})"
            f" AND NOT regexp_matches(t, {params.add(ORDINAL_INWARD)})"
        )
    # A value holding two NI numbers, say, is one finding.
    return f"SELECT DISTINCT * FROM ({' UNION ALL '.join(parts)})" if parts else None  # noqa: S608


def _candidates_sql(view: str, columns: list[_Column], params: SqlParams) -> str | None:
    """Values worth a closer look: one regular-expression pass per scanned column."""
    parts = []
    for c in columns:
        if not c.text_rules:
            continue
        pattern = PREFILTER_STRING if RULE_POSTCODE in c.text_rules else PREFILTER_TEXT
        parts.append(
            f"SELECT {int(c.no)} AS col_no, __row, v FROM ("  # noqa: S608
            f" SELECT __row, CAST({qi(c.name)} AS VARCHAR) AS v FROM {qi(view)})"
            f" WHERE regexp_matches(v, {params.add(pattern)})"
        )
    return " UNION ALL ".join(parts) if parts else None


def scan_for_identifiers(
    con: duckdb.DuckDBPyConnection,
    view: str,
    fields: dict[str, str],
    *,
    display: str,
    max_rows_per_rule: int = DEFAULT_MAX_ROWS_PER_RULE,
) -> tuple[list[Finding], list[RuleTotal]]:
    """Find identifiers that must not leave the organisation in every column of `view`.

    `view` has a `__row` column (spreadsheet row, header = 1) and one column per outgoing
    field, as text or already typed; `fields` maps column name -> the standard's field type.
    A field absent from the view is skipped (there is nothing to send); a column of the view
    absent from `fields` is scanned as a string field, with every rule.

    Returns (findings, totals) in the shape of `validate_relation`: findings list at most
    `max_rows_per_rule` rows per (field, rule) (0 or less: no cap), in column order, then
    rule order, then row; `totals` holds one RuleTotal per (field, rule) found, counting
    every row. Any finding means: do not package.
    """
    described = con.execute(f"DESCRIBE {qi(view)}").fetchall()
    types = {name: ctype for name, ctype, *_ in described}
    if "__row" not in types:
        raise ValueError(f"view {view} has no __row column")
    columns = [
        _Column(no, name, fields.get(name, "string"), ctype)
        for no, (name, ctype) in enumerate((n, t) for n, t in types.items() if n != "__row")
    ]
    for c in columns:
        qi(c.name)  # raises for a name that is not a standard identifier
        if c.field_type not in TEXT_TYPES | NUMERIC_TYPES | {"date"}:
            raise ValueError(f"field {c.name} has unknown type {c.field_type!r}")

    numeric = [c for c in columns if c.numeric_field and c.scanned]
    dominated = _dominated_columns(con, view, numeric)
    params = SqlParams()
    candidates = _candidates_sql(view, columns, params)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE owf_pii_candidates"
            " (col_no INTEGER, __row BIGINT, v VARCHAR)"
        )
        if candidates:
            con.execute(f"INSERT INTO owf_pii_candidates {candidates}", params.values)
        params = SqlParams()
        hits = _hits_sql(view, columns, dominated, params)
        if hits is None:
            return [], []
        con.execute(f"CREATE OR REPLACE TEMP TABLE owf_pii_hits AS {hits}", params.values)
        return _collect(con, columns, dominated, display, max_rows_per_rule)
    finally:
        con.execute("DROP TABLE IF EXISTS owf_pii_candidates")
        con.execute("DROP TABLE IF EXISTS owf_pii_hits")


def _collect(
    con: duckdb.DuckDBPyConnection,
    columns: list[_Column],
    dominated: list[_Column],
    display: str,
    cap: int,
) -> tuple[list[Finding], list[RuleTotal]]:
    by_no = {c.no: c for c in columns}
    dominated_nos = {c.no for c in dominated}

    def message(col_no: int, rule_no: int) -> tuple[str, str]:
        c, rule = by_no[col_no], RULES[rule_no]
        return rule, _message(rule, c.name, rule == RULE_NHS and col_no in dominated_nos)

    counts = con.execute(
        "SELECT col_no, rule_no, count(*) FROM owf_pii_hits GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    limit = (
        ""
        if cap <= 0
        else "QUALIFY row_number() OVER (PARTITION BY col_no, rule_no ORDER BY __row)"
        f" <= {int(cap)}"
    )
    rows = con.execute(
        f"SELECT col_no, rule_no, __row FROM owf_pii_hits {limit} ORDER BY ALL"  # noqa: S608
    ).fetchall()
    totals = []
    for col_no, rule_no, n in counts:
        rule, text = message(col_no, rule_no)
        totals.append(RuleTotal("error", rule, by_no[col_no].name, text, int(n)))
    findings = []
    for col_no, rule_no, row in rows:
        rule, text = message(col_no, rule_no)
        findings.append(
            Finding("error", rule, text, display, int(row), by_no[col_no].name, FOUND[rule])
        )
    return findings, totals
