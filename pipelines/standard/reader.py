"""Read an extract file into DuckDB, column by column, reporting structural problems.

The file is never read row by row in Python. Python only looks at the bytes (to settle the
encoding) and the header line (to settle the columns); DuckDB's parallel CSV reader loads
the body. Columns are loaded under positional names (c0, c1, ...) so that no name taken from
a user's file is ever spliced into SQL; the caller decides which standard field each
position feeds.

Row numbers count the header as row 1, as a spreadsheet shows them.
"""

from __future__ import annotations

import array
import codecs
import csv
import datetime as dt
import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.errors import Finding

CHUNK = 8 * 1024 * 1024
_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
DELIMITER_NAMES = {",": "comma", **OTHER_DELIMITERS}


@dataclass
class LoadedSource:
    """A file loaded into DuckDB as table `table` with columns c0..cN (all text)."""

    path: Path
    display: str
    table: str
    header: list[str] = field(default_factory=list)
    rows: int = 0
    encoding: str = "utf-8"
    delimiter: str = ","
    findings: list[Finding] = field(default_factory=list)
    # A deferred CSV (`load_csv(..., defer=True)`) is not loaded yet: `scan_sql` (with
    # `scan_params`) reads it, and `select_into` reads and maps the body in one statement,
    # then sets `rows` and adds any malformed-row findings.
    scan_sql: str | None = None
    scan_params: dict[str, object] = field(default_factory=dict)
    # A CSV with a blank line between rows: DuckDB's reader skips such lines, so a row's
    # position in the table is not its row in the file, and `select_into` numbers the rows
    # by reading the file once more (see csv_row_numbers).
    blank_lines: bool = False
    # Its last line holds nothing but delimiters (Excel's ",,,," below the data): only then
    # does `select_into` look for such records after the data (looking means reading every
    # column of the file, where the mapping reads only those it uses).
    trailing_blank_records: bool = False
    # A workbook's columns holding numbers rather than text in their first rows: column
    # index -> the first such sheet row. A number shown with leading zeros by its format
    # (00012345) is stored, and read, without them.
    numeric_columns: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def column(self, position: int) -> str:
        return f"c{position}"


def _error(rule: str, message: str, display: str, row: int | None = None, **kw) -> Finding:
    return Finding("error", rule, message, file=display, row=row, **kw)


def _line_of_offset(path: Path, offset: int) -> int:
    """The row (1-based, as a spreadsheet shows the file) holding a byte offset, counted
    without decoding: line breaks inside a quoted value (a value spanning lines) do not
    start a row; a blank line is a row of its own. Quotes are counted as they come: a
    doubled quote inside a quoted value toggles twice, so it changes nothing."""
    row, quoted = 1, False
    with path.open("rb") as fh:
        remaining = offset
        while remaining > 0:
            chunk = fh.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            if not quoted and b'"' not in chunk:
                row += chunk.count(b"\n")
                continue
            for part in chunk.split(b'"'):
                if not quoted:
                    row += part.count(b"\n")
                quoted = not quoted
            quoted = not quoted  # n parts are separated by n - 1 quotes
    return row


def _check_encoding(path: Path, display: str) -> tuple[str, list[Finding], int | None]:
    """Return ("utf-8" | "cp1252", findings, where the first blank line is). UTF-8 with or
    without BOM is the standard. The blank line's offset comes from the same pass over the
    bytes: None when there is none, -1 when the pass stopped early (not known)."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(UTF16_BOMS):
        return (
            "utf-16",
            [
                _error(
                    "encoding",
                    "the file is UTF-16 text (Excel's 'Unicode text'); the standard needs UTF-8."
                    " Save it from Excel as 'CSV UTF-8 (Comma delimited)' and try again.",
                    display,
                )
            ],
            -1,
        )
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset, previous, blank = 0, b"", None
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            final = not chunk
            if blank is None and chunk:
                blank = _first_blank_line(previous, chunk, offset)
                previous = chunk[-2:]
            try:
                if not chunk.isascii() or final:
                    decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                bad_offset = offset + exc.start
                if head.startswith(codecs.BOM_UTF8):
                    # Marked as UTF-8 by its byte-order mark: one bad byte is damage to report
                    # by row, not a sign of Windows-1252 (read as that, the mark would become
                    # part of the first column's name).
                    bad = _line_of_offset(path, bad_offset)
                    return (
                        "unknown",
                        [
                            _error(
                                "encoding",
                                f"the file is marked as UTF-8 (it starts with a byte-order mark) but"
                                f" row {bad} holds a byte that is not UTF-8, often a character pasted"
                                " from another program. Retype that row's special characters, or"
                                " save the file as 'CSV UTF-8' again, and try again.",
                                display,
                                row=bad,
                            )
                        ],
                        -1,
                    )
                return (*_check_cp1252(path, display, bad_offset), -1)
            if final:
                return "utf-8", [], blank
            offset += len(chunk)


# A character of two to four bytes written as UTF-8. Read as Windows-1252 such a pair is an
# accented capital followed by a symbol ("Ã©"), which real text does not hold: a file with one
# is UTF-8 in part, and reading all of it as Windows-1252 would garble those characters.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _check_cp1252(path: Path, display: str, utf8_error_offset: int) -> tuple[str, list[Finding]]:
    line = _line_of_offset(path, utf8_error_offset)
    decoder = codecs.getincrementaldecoder("cp1252")("strict")
    offset, tail = 0, b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            utf8 = _UTF8_MULTIBYTE.search(tail + chunk) if chunk else None
            if utf8 is not None:
                good = _line_of_offset(path, offset - len(tail) + utf8.start())
                return "unknown", [
                    _error(
                        "encoding",
                        f"the file mixes two encodings: row {good} holds a character written"
                        f" as UTF-8 and row {line} one that is not UTF-8 (often a character"
                        " pasted from another program, or rows joined from two files). Read as"
                        " either, some characters would be wrong. Retype the special"
                        f" characters of row {line}, or save the file as 'CSV UTF-8' from the"
                        " program that made it, and try again.",
                        display,
                        row=line,
                    )
                ]
            tail = chunk[-3:]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                bad = _line_of_offset(path, offset + exc.start)
                return "unknown", [
                    _error(
                        "encoding",
                        f"the file is neither UTF-8 nor Windows-1252 text (first unreadable"
                        f" byte on row {bad}). Save it as 'CSV UTF-8' and try again.",
                        display,
                        row=bad,
                    )
                ]
            if not chunk:
                break
            offset += len(chunk)
    return "cp1252", [
        Finding(
            "warning",
            "encoding",
            f"the file is not UTF-8 (first non-UTF-8 character on row {line}); it was read as"
            " Windows-1252. Save it as 'CSV UTF-8' to make this warning go away.",
            file=display,
            row=line,
        )
    ]


def _transcode_to_utf8(path: Path, encoding: str, target: Path) -> None:
    with (
        path.open("r", encoding=encoding, newline="") as src,
        target.open("w", encoding="utf-8", newline="") as dst,
    ):
        shutil.copyfileobj(src, dst, CHUNK)


def _read_header_line(path: Path, encoding: str) -> str:
    with path.open(
        "r", encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline=""
    ) as fh:
        # A header longer than 1 MB is not a header.
        return fh.readline(1024 * 1024)


# A header cell is quoted in a finding or a receipt only when it reads like a column name: a
# file exported without its header row has a row of data there (NI numbers, names, dates of
# birth), and nothing in a receipt may echo one. Anything else is named by its position.
_COLUMN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 _./()#&%-]{0,63}")
_VALUE_LIKE = re.compile(
    r"[0-9]{4}"  # a year, an NHS number, an amount
    r"|[A-Za-z]{2}[^A-Za-z0-9]?[0-9]{2}[^A-Za-z0-9]?[0-9]{2}"  # an NI number
    r"|[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2}"  # a date
    r"|\b[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}\b"  # a postcode
)


def column_label(name: str, position: int, *, quote: bool = True) -> str:
    """How header cell `position` (1-based) is named in findings and receipts: its text when
    that reads like a column name (and `quote`), otherwise "column N"."""
    if quote and _COLUMN_NAME.fullmatch(name) and not _VALUE_LIKE.search(name):
        return name
    return f"column {position}"


def column_phrase(name: str, position: int, *, quote: bool = True) -> str:
    """The same, for a sentence: "column 'Surname'" or "column 3"."""
    label = column_label(name, position, quote=quote)
    return f"column {label!r}" if label == name else label


def mostly_unknown(header: list[str], known: set[str]) -> bool:
    """True when fewer than half of the header's non-empty cells are `known` names (lower
    case, as header_key gives). Such a first row may be a person's record with a heading or
    two typed over it: found in review, a row whose first cell alone had been put back to
    `Tm Year Month` was taken for the header, and its other cells (a name, an ethnic group)
    were quoted as column names on screen and in the receipt. Its cells are then named by
    position only (column_label's `quote`)."""
    cells = [h for h in header if h and h.strip()]
    return bool(cells) and 2 * sum(header_key(h) in known for h in cells) < len(cells)


# Characters a header cell can hold that nobody sees: zero-width spaces and joiners, and a
# byte-order mark pasted into a cell.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def header_key(name: str) -> str:
    """A column name as it is matched: case ignored, invisible characters dropped, and runs
    of spaces (a non-breaking space too, which Excel and web pages put in headings) read as
    one. 'Pay  Band' and 'Pay\u00a0Band' are 'pay band'."""
    return " ".join(name.translate(_INVISIBLE).split()).lower()


def header_findings(header: list[str], display: str) -> list[Finding]:
    """Duplicate and empty header cells, for CSV and XLSX alike. Asked for once row 1 is
    known to be a header (see no_header_finding): in a row of data they mean nothing."""
    findings: list[Finding] = []
    seen: set[str] = set()
    for i, name in enumerate(header):
        key = header_key(name)
        if name == "":
            findings.append(
                _error(
                    "empty_column_name",
                    f"header cell {i + 1} is empty; every column needs a name (delete empty"
                    " columns).",
                    display,
                    row=1,
                )
            )
        elif key in seen:
            findings.append(
                _error(
                    "duplicate_column",
                    f"{column_phrase(name, i + 1)} appears more than once in the header (case"
                    " ignored); keep one.",
                    display,
                    row=1,
                    field=column_label(name, i + 1),
                )
            )
        seen.add(key)
    return findings


def no_header_finding(
    header: list[str], expected: str, display: str, below: tuple[int, int] | None = None
) -> Finding:
    """Row 1 matched none of the names expected there: the file has no header row, or (with
    `below`, the row that does hold them and how many) rows above its header, such as a
    report's title."""
    if below is not None:
        row, matched = below
        above = "row 1 is" if row == 2 else f"rows 1-{row - 1} are"
        return _error(
            "no_header",
            f"row 1 does not look like a header: {_none_of(header, expected)}."
            f" Row {row} does ({matched} of its cells are): {above} above the headings (a"
            " report's title, perhaps). Delete them so that the headings are in the first row,"
            " or export the extract without a title.",
            display,
            row=1,
        )
    return _error(
        "no_header",
        f"row 1 does not look like a header: {_none_of(header, expected)}."
        " Export the file with its column headings in the first row (its cells are not"
        " shown here, in case they are data).",
        display,
        row=1,
    )


def _none_of(header: list[str], expected: str) -> str:
    if len(header) == 1:
        return f"its one cell is not {expected}"
    return f"none of its {len(header)} cells is {expected}"


# How far below row 1 a header is looked for, when row 1 is not one.
HEADER_SEARCH_ROWS = 30


def header_names_in(cells: list[str | None], names: set[str]) -> int:
    """How many of `cells` are one of `names` (lower case), case and spaces ignored."""
    return sum(1 for c in cells if c is not None and header_key(c) in names)


def header_below(rows, names: set[str]) -> tuple[int, int] | None:
    """(row number, cells matched) of the first of `rows` ((row number, cells) pairs) that
    looks like the header: at least two of the names expected (one, if only one is) and at
    least half of its cells that hold something."""
    need = min(2, len(names))
    for number, cells in rows:
        filled = [c for c in cells if c is not None and c.strip()]
        matched = header_names_in(filled, names)
        if matched >= need and matched * 2 >= len(filled):
            return number, matched
    return None


def read_header(
    path: Path, display: str, encoding: str, delimiter: str
) -> tuple[list[str], list[Finding]]:
    line = _read_header_line(path, encoding)
    if not line.strip():
        return [], [
            _error(
                "no_header",
                "the first row is empty; the standard needs a header row with the field names.",
                display,
                row=1,
            )
        ]
    header = next(csv.reader(io.StringIO(line), delimiter=delimiter, quotechar='"'))
    header = [h.strip() for h in header]
    findings: list[Finding] = []
    if len(header) == 1:
        for other, name in DELIMITER_NAMES.items():
            if other != delimiter and other in line:
                read_as = DELIMITER_NAMES.get(delimiter, repr(delimiter))
                if other == ",":
                    # Read with another --delimiter (or a profile's) than the file's commas.
                    todo = (
                        "It is read as"
                        f" {read_as}-separated (--delimiter, or the profile's): leave"
                        " --delimiter out, or give --delimiter ','."
                    )
                elif delimiter == ",":
                    todo = (
                        "The standard expects comma-separated values: save it as 'CSV UTF-8"
                        f" (Comma delimited)', or pass --delimiter"
                        f" {'tab' if other == chr(9) else repr(other)}."
                    )
                else:
                    todo = (
                        f"It is read as {read_as}-separated (--delimiter, or the profile's):"
                        f" pass --delimiter {'tab' if other == chr(9) else repr(other)}."
                    )
                findings.append(
                    _error(
                        "delimiter",
                        f"the header row has a single column but contains {name}s: the file"
                        f" looks {name}-separated. {todo}",
                        display,
                        row=1,
                    )
                )
                break
    return header, findings


def load_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path | str,
    table: str,
    *,
    delimiter: str = ",",
    display: str | None = None,
    workdir: Path | None = None,
    defer: bool = False,
    progress: Callable[[str], None] | None = None,  # unused: DuckDB reads a CSV in one go
    header_names: tuple[set[str], str] | None = None,
) -> LoadedSource:
    """Load a CSV into `table` (c0..cN, all VARCHAR). Structural problems become findings.

    When the file is Windows-1252 it is converted to a private temporary UTF-8 copy that is
    deleted before returning; the original is never modified.

    `defer`: settle the encoding and header now but leave the body for `select_into`, which
    reads and maps it in one pass instead of loading a table of text and copying it (for a
    100,000-row extract, 0.16 s instead of 0.34 s). A Windows-1252 file is loaded at once
    (its converted copy does not outlive this call).
    """
    path = Path(path)
    display = display or path.name
    src = LoadedSource(path=path, display=display, table=table, delimiter=delimiter)
    if not path.exists():
        src.findings.append(
            _error("file_not_found", f"the file {path} does not exist; check the path.", display)
        )
        return src
    if path.is_dir():
        src.findings.append(_error("not_a_file", f"{path} is a folder, not a file.", display))
        return src
    if path.stat().st_size == 0:
        src.findings.append(
            _error(
                "empty_file",
                "the file is empty (0 bytes): export the extract again.",
                display,
            )
        )
        return src

    encoding, enc_findings, blank = _check_encoding(path, display)
    src.encoding = encoding
    src.findings.extend(enc_findings)
    if not src.ok:
        return src

    header, found = read_header(path, display, encoding, delimiter)
    src.header = header
    src.findings.extend(found)
    if not src.ok:
        return src
    if header_names and header and not header_names_in(header, header_names[0]):
        below = header_below(_csv_rows_below(path, encoding, delimiter), header_names[0])
        src.findings.append(no_header_finding(header, header_names[1], display, below))
        return src
    tail = _file_tail(path)  # read once for both questions about the file's end
    src.blank_lines = _has_blank_line(path, blank, tail)
    src.trailing_blank_records = _ends_with_delimiters_only(tail[1], delimiter)

    tmp = None
    read_path = path
    if not _IDENT.fullmatch(table):
        raise ValueError(f"not a safe table name: {table!r}")
    try:
        if encoding != "utf-8":
            tmp = tempfile.mkdtemp(prefix="owf-", dir=workdir)
            os.chmod(tmp, 0o700)
            read_path = Path(tmp) / "converted.csv"
            _transcode_to_utf8(path, encoding, read_path)
        columns = {f"c{i}": "VARCHAR" for i in range(len(header))}
        src.scan_sql = READ_CSV_SQL
        src.scan_params = {
            "owf_src_path": str(read_path),
            "owf_src_columns": columns,
            "owf_src_delim": delimiter,
        }
        if defer and tmp is None:
            return src
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM {READ_CSV_SQL}",  # noqa: S608 - constants
            src.scan_params,
        )
        src.scan_sql = None
        src.scan_params = {}
        _collect_rejects(con, src)
        src.rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
    except duckdb.Error as exc:
        src.scan_sql = None
        src.findings.append(_unreadable(exc, display, path))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return src


def _csv_rows_below(path: Path, encoding: str, delimiter: str):
    """(line number, cells) of the records after the first (at most HEADER_SEARCH_ROWS),
    read with Python's CSV reader; a file it cannot read gives what it read before."""
    try:
        with open(
            path, encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline=""
        ) as fh:
            reader = csv.reader(fh, delimiter=delimiter, quotechar='"')
            next(reader, None)
            for _ in range(HEADER_SEARCH_ROWS):
                cells = next(reader, None)
                if cells is None:
                    return
                yield reader.line_num, cells
    except (csv.Error, OSError, UnicodeDecodeError, LookupError):
        return


# The longest row the CSV reader takes (DuckDB's default, set here so the message matches).
MAX_LINE_BYTES = 2_000_000

# Every option is fixed here; the path, the columns (c0..cN) and the delimiter are bound.
READ_CSV_SQL = (
    "read_csv($owf_src_path, header = true, auto_detect = false, columns = $owf_src_columns,"
    " delim = $owf_src_delim, quote = '\"', escape = '\"', store_rejects = true,"
    " rejects_table = 'owf_reject_errors', rejects_scan = 'owf_reject_scans',"
    " null_padding = false, all_varchar = true, max_line_size = 2000000)"
)


def _unreadable(exc: Exception, display: str, path: Path | None = None) -> Finding:
    mixed = _first_other_line_ending(path) if path is not None else None
    if mixed is not None:
        # DuckDB's CSV reader stops at such a file with an "invalid state" and no row.
        return _mixed_line_endings("unreadable", mixed, display)
    return _error(
        "unreadable",
        f"the file could not be read as CSV ({type(exc).__name__}): {_first_line(exc)}."
        " Check it opens in a spreadsheet and save it again as 'CSV UTF-8'.",
        display,
    )


def _mixed_line_endings(
    rule: str, mixed: tuple[int, str, str], display: str, consequence: str = ""
) -> Finding:
    """The finding for a file whose lines end in two ways (_first_other_line_ending)."""
    line, ending, first = mixed
    return _error(
        rule,
        f"the file mixes line endings: line {line} ends with {ending} where line 1 ends with"
        f" {first} (often rows pasted in from another file){consequence}. Save it again from"
        " a spreadsheet as 'CSV UTF-8', or convert its line endings, and try again.",
        display,
        row=line,
    )


def _first_other_line_ending(path: Path) -> tuple[int, str, str] | None:
    """(line, its ending, line 1's ending) for the first line of the file ending otherwise
    than line 1 (CR LF against LF), or None. Physical lines: a quoted value spanning lines
    counts each. Read only when the file could not be parsed."""
    names = {True: "CR LF (Windows)", False: "LF"}
    first: bool | None = None
    line, previous = 0, b""
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                at = chunk.find(b"\n")
                while at >= 0:
                    line += 1
                    crlf = (chunk[at - 1 : at] if at else previous) == b"\r"
                    if first is None:
                        first = crlf
                    elif crlf != first:
                        return line, names[crlf], names[first]
                    at = chunk.find(b"\n", at + 1)
                previous = chunk[-1:]
    except OSError:
        return None
    return None


def _collect_rejects(con: duckdb.DuckDBPyConnection, src: LoadedSource) -> None:
    """Malformed rows the CSV reader set aside, one finding per row (the first 1,000)."""
    # DuckDB reports a short row once per missing column: keep one finding per row.
    rejects = con.execute(
        # (A row's own errors, e.g. a line over the size limit, have no column: first.)
        "SELECT line, arg_min(error_type, coalesce(column_idx, -1)),"
        " arg_min(error_message, coalesce(column_idx, -1))"
        " FROM owf_reject_errors GROUP BY line ORDER BY line LIMIT 1000"
    ).fetchall()
    total_rejects = con.execute("SELECT count(DISTINCT line) FROM owf_reject_errors").fetchone()[0]
    if any(error_type == "UNQUOTED VALUE" for _, error_type, _ in rejects):
        # A quoted file whose lines end in two ways (rows pasted from a Windows file into a
        # Unix one) reads as hundreds of quoted values "not closed": name the cause once.
        mixed = _first_other_line_ending(src.path)
        if mixed is not None:
            src.findings.append(
                _mixed_line_endings(
                    "malformed_row",
                    mixed,
                    src.display,
                    # Not a count: DuckDB sets aside only the lines it trips on, not the
                    # rows it misreads around them (found in review: "1 rows could not be
                    # read" of a file with 1,400 lines after the change).
                    ", so the file cannot be read as it is and is refused whole",
                )
            )
            con.execute("DROP TABLE IF EXISTS owf_reject_errors")
            con.execute("DROP TABLE IF EXISTS owf_reject_scans")
            return
    for line, error_type, message in rejects:
        src.findings.append(
            _reject_finding(src.display, line, error_type, message, len(src.header))
        )
    if total_rejects > len(rejects):
        src.findings.append(
            _error(
                "malformed_row",
                f"{total_rejects - len(rejects)} further malformed rows not listed.",
                src.display,
            )
        )
    con.execute("DROP TABLE IF EXISTS owf_reject_errors")
    con.execute("DROP TABLE IF EXISTS owf_reject_scans")


# Rows per Arrow record batch of a mapped extract. DuckDB scans a table in parallel only by
# row group (122,880 rows), so a 100,000-row extract stored as a table is read on one core
# by every check; an Arrow table of record batches this size is read by all of them.
ARROW_BATCH_ROWS = 16_384


def select_into(
    con: duckdb.DuckDBPyConnection,
    src: LoadedSource,
    target: str,
    columns_sql: str,
    params: dict[str, object] | None = None,
) -> list[Finding]:
    """Make `target`: `__row` (the spreadsheet row) and `columns_sql`, selected from the source.

    The rows are kept once, as an Arrow table of record batches registered on `con` under
    the name `target` (a temporary view to SQL; `_drop_relation` removes it): an Arrow
    table is scanned by every thread, a DuckDB temporary table of this size by one (see
    ARROW_BATCH_ROWS), and making it is also quicker. `__row` comes from the file's order,
    which DuckDB keeps (preserve_insertion_order, its default: a CSV read has no row id of
    its own). For a deferred CSV this statement is the read: afterwards `src.rows` is set,
    malformed rows are findings in `src.findings`, and a file DuckDB cannot parse is an
    "unreadable" finding, with no `target` made; the findings added are also returned.
    `columns_sql` and `params` are the caller's; values are bound, never spliced.
    """
    already = len(src.findings)
    if not _IDENT.fullmatch(target):
        raise ValueError(f"not a safe name: {target!r}")
    _drop_relation(con, target)
    # A relation needs a column: with no fields, a placeholder that is dropped after.
    placeholder = not columns_sql
    columns_sql = columns_sql or "NULL::BOOLEAN AS __owf_no_field"
    # A CSV's records that hold nothing but delimiters (Excel writes ",,,," for formatted
    # cells below the data): at the end of the file they are not rows, as blank rows after a
    # workbook's data are not. Marked here, trimmed below; inside the data they stay rows.
    blank_sql = ""
    if src.trailing_blank_records and src.header:
        cells = ", ".join(f"c{i}" for i in range(len(src.header)))
        blank_sql = f", coalesce({cells}) IS NULL AS {_BLANK_RECORD}"
    # A row repeating the header (two exports joined into one file): marked here by its
    # first two named columns, removed below and named once, rather than failing every
    # field's rule on that row.
    header_sql, header_params = "", {}
    # A cell matches as written in row 1 (case and outer spaces aside) or as header_key
    # reads it: a heading with a double or non-breaking space is repeated as it was written,
    # which its key (one plain space) would not match.
    named = [
        (i, sorted({h.strip(" ").lower(), header_key(h)}))
        for i, h in enumerate(src.header)
        if header_key(h)
    ][:2]
    if len(named) == 2:
        header_sql = (
            ", "
            + " AND ".join(
                f"coalesce(list_contains($owf_header_{j}, lower(trim(c{i}))), false)"
                for j, (i, _) in enumerate(named)
            )
            + f" AS {_HEADER_AGAIN}"
        )
        header_params = {f"owf_header_{j}": names for j, (_, names) in enumerate(named)}
    select = f"SELECT {columns_sql}{blank_sql}{header_sql} FROM "  # noqa: S608 - the caller's checked SQL
    if src.scan_sql is None:
        table = con.sql(
            select + src.table, params={**(params or {}), **header_params}
        ).to_arrow_table(ARROW_BATCH_ROWS)
    else:
        try:
            table = con.sql(
                select + src.scan_sql,
                params={**(params or {}), **src.scan_params, **header_params},
            ).to_arrow_table(ARROW_BATCH_ROWS)
        except duckdb.Error as exc:
            # The file, or the caller's expressions? Reading every column of the file alone
            # tells them apart.
            try:
                con.execute(f"SELECT max(COLUMNS(*)) FROM {src.scan_sql}", src.scan_params)  # noqa: S608
            except duckdb.Error:
                src.scan_sql = None
                src.findings.append(_unreadable(exc, src.display, src.path))
                return src.findings[already:]
            finally:
                con.execute("DROP TABLE IF EXISTS owf_reject_errors")
                con.execute("DROP TABLE IF EXISTS owf_reject_scans")
            raise
        src.scan_sql = None
        src.scan_params = {}
        _collect_rejects(con, src)
        src.rows = table.num_rows
    if placeholder:
        table = table.drop_columns(["__owf_no_field"])
    if blank_sql:
        table = _without_trailing_blank_records(table)
        src.rows = table.num_rows
    rows = None
    if src.blank_lines and src.encoding in ("utf-8", "cp1252"):
        try:
            rows = csv_row_numbers(src.path, src.encoding, src.delimiter)
        except (csv.Error, OSError, UnicodeDecodeError):  # e.g. a value over csv's size limit
            rows = array.array("q")
        if len(rows) > table.num_rows and blank_sql:  # trailing delimiter-only records
            rows = rows[: table.num_rows]
        if len(rows) != table.num_rows:  # the two readers disagree: say so, do not guess
            if src.ok:  # else malformed rows, set aside by DuckDB, explain the difference
                src.findings.append(
                    Finding(
                        "warning",
                        "row_numbers",
                        "the file has blank lines, and its rows could not be matched to the lines"
                        " they are on: row numbers in this report count rows without the blank"
                        " lines. Delete the blank lines to see exact row numbers.",
                        file=src.display,
                    )
                )
            rows = None
    numbered = _with_row_numbers(table, rows)
    if header_sql:
        numbered = _without_repeated_headers(numbered, src)
    con.register(target, numbered)
    return src.findings[already:]


_BLANK_RECORD = "__owf_blank_record"
_HEADER_AGAIN = "__owf_header_again"


def _without_repeated_headers(table: pa.Table, src: LoadedSource) -> pa.Table:
    """`table` without its rows that repeat the header, each named once as an error."""
    import pyarrow.compute as pc

    flag = table.column(_HEADER_AGAIN)
    table = table.drop_columns([_HEADER_AGAIN])
    if not pc.any(flag).as_py():
        return table
    again = table.filter(flag).column("__row").to_pylist()
    src.rows -= len(again)
    for row in again[:10]:
        src.findings.append(
            _error(
                "repeated_header",
                f"row {row} repeats the header row (two exports joined into one file?):"
                " delete it. It was not read as data."
                + (f" {len(again)} rows are like this." if len(again) > 10 else ""),
                src.display,
                row=row,
            )
        )
    return table.filter(pc.invert(flag))


def _without_trailing_blank_records(table: pa.Table) -> pa.Table:
    """`table` without its _BLANK_RECORD column, and without the records after its last one
    holding a value (those that are blank all the way to the end of the file)."""
    blank = table.column(_BLANK_RECORD)
    table = table.drop_columns([_BLANK_RECORD])
    n = table.num_rows
    if n == 0 or not blank[n - 1].as_py():  # almost every file: nothing to trim
        return table
    import numpy as np

    holding = np.flatnonzero(~blank.to_numpy(zero_copy_only=False))
    return table.slice(0, int(holding[-1]) + 1 if len(holding) else 0)


_BLANK_LINE = re.compile(rb"\n\r?\n")
_TAIL = 64 * 1024


def _first_blank_line(previous: bytes, chunk: bytes, offset: int) -> int | None:
    """Offset in the file of the first empty line (LF or CR LF) in `chunk`, which starts at
    `offset`, or across its boundary with the last bytes of the chunk before (`previous`)."""
    edge = _BLANK_LINE.search(previous + chunk[:2])
    if edge:
        return offset - len(previous) + edge.start()
    within = _BLANK_LINE.search(chunk)
    return offset + within.start() if within else None


def _file_tail(path: Path) -> tuple[int, bytes]:
    """(the file's size, its last _TAIL bytes)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - _TAIL))
        return size, fh.read()


def _ends_with_delimiters_only(tail: bytes, delimiter: str) -> bool:
    """True when the last line of `tail` (a file's end) that is not empty holds only
    delimiters (and spaces or empty quotes): a record of nothing, as Excel writes for
    formatted cells below the data."""
    tail = tail.rstrip(b"\r\n")
    last = tail[tail.rfind(b"\n") + 1 :]
    sep = delimiter.encode()
    return bool(last) and sep in last and not last.replace(sep, b"").strip(b' \t"\r')


def _has_blank_line(
    path: Path, first: int | None = -1, tail: tuple[int, bytes] | None = None
) -> bool:
    """True when an empty line (LF or CR LF) comes before the last row of the file. Blank
    lines after the last row change no row number and are not counted. `first`: the offset
    of the first empty line when already known (None: there is none), else -1 to search.
    `tail`: the file's (size, last bytes) when already read (_file_tail)."""
    size, end_bytes = tail or _file_tail(path)
    # Where the line breaks at the end of the file start: a blank line from there on is not
    # between rows. (A tail of nothing but line breaks is taken as blank lines.)
    end = size - (len(end_bytes) - len(end_bytes.rstrip(b"\r\n")))
    if first is not None and first < 0:
        with path.open("rb") as fh:
            previous, offset, first = b"", 0, None
            while first is None and (chunk := fh.read(CHUNK)):
                first = _first_blank_line(previous, chunk, offset)
                previous = chunk[-2:]
                offset += len(chunk)
    return first is not None and first < end


def csv_row_numbers(path: Path, encoding: str, delimiter: str) -> array.array:
    """The row of every record after the header, as a spreadsheet shows the file: a blank
    line is a row of its own (Excel shows it as an empty row) but holds no record, so the
    records after it are numbered from the line they are on. A value spanning lines (quoted,
    with line breaks) is one row. Python's csv reader gives an empty list for a blank line.
    """
    rows = array.array("q")
    with path.open(
        "r", encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline=""
    ) as fh:
        reader = csv.reader(fh, delimiter=delimiter, quotechar='"', doublequote=True)
        for row, record in enumerate(reader, start=1):
            if row > 1 and record:
                rows.append(row)
    return rows


def _with_row_numbers(table: pa.Table, rows: array.array | None = None) -> pa.Table:
    """`table` with `__row` first: the row of the file each came from, the header being row
    1 (by default its position: rows 2 to n + 1)."""
    rows = row_numbers(table.num_rows) if rows is None else int64_array(rows)
    batches = table.to_batches()
    if not batches:  # no rows: keep the schema
        return table.add_column(0, "__row", rows)
    out, start = [], 0
    for batch in batches:
        out.append(batch.add_column(0, "__row", rows.slice(start, batch.num_rows)))
        start += batch.num_rows
    return pa.Table.from_batches(out)


def row_numbers(n: int) -> pa.Array:
    """Row numbers 2 to n + 1 as a spreadsheet shows them (the header is row 1), int64.

    A slice of one array of row numbers kept for the process and grown as needed, so that
    the hub's ingest, which numbers every package's rows three times, does not build them
    again each time (0.55 s of a national month holding Python's lock). Built from a buffer:
    `pa.array` or `pa.scalar` of Python ints would import pandas (about 0.2 s of a cold
    `owf submit prepare`)."""
    global _ROW_NUMBERS
    rows = _ROW_NUMBERS
    if len(rows) < n:
        size = max(n, 2 * len(rows))
        rows = _ROW_NUMBERS = int64_array(array.array("q", range(2, size + 2)))
    return rows.slice(0, n)


def int64_array(values: array.array) -> pa.Array:
    """An array.array of type "q" as an Arrow int64 array, sharing its buffer."""
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


# row_numbers' array (empty until asked for; not `pa.array([])`, which imports pandas).
_ROW_NUMBERS: pa.Array = int64_array(array.array("q"))


def _drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    kind = con.execute(
        "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = $n AND temporary"
        " UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = $n AND temporary",
        {"n": name},
    ).fetchall()
    for (k,) in kind:
        if k == "VIEW":
            con.unregister(name)  # an Arrow table registered by select_into; no-op otherwise
        con.execute(f"DROP {k} IF EXISTS {name}")  # k is one of two constants; name checked


def _first_line(exc: Exception) -> str:
    # DuckDB messages can quote the offending line; keep only the first line, which doesn't.
    return str(exc).splitlines()[0][:200]


def _reject_finding(display: str, line: int, error_type: str, message: str, ncols: int) -> Finding:
    # Never include DuckDB's csv_line: it holds the row's values.
    if error_type in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
        found = message.split("Found:")[-1].strip() if "Found:" in message else "?"
        text = (
            f"the row has {found} fields where the header has {ncols}: the row is cut short,"
            " has an extra delimiter, or a text value with a comma is not in double quotes."
        )
        rule = "malformed_row"
    elif error_type == "UNQUOTED VALUE":
        text = "a quoted value is not closed: the file may be truncated or a quote is missing."
        rule = "malformed_row"
    elif error_type == "LINE SIZE OVER MAXIMUM":
        text = (
            f"the row is longer than the reader's limit of {MAX_LINE_BYTES:,} bytes: a value"
            " has probably lost its closing quote, so the rows after it were read into it, or"
            " a field holds far more text than it should. Check the row in a text editor."
        )
        rule = "malformed_row"
    elif error_type == "INVALID UNICODE":
        text = "the row contains bytes that are not valid text."
        rule = "encoding"
    else:
        text = f"the row could not be read ({(error_type or 'unknown error').lower()})."
        rule = "malformed_row"
    return _error(rule, text, display, row=int(line))


def _cell_text(value) -> str | None:
    """A spreadsheet cell as the text a CSV export would hold (an empty cell: None)."""
    if type(value) is str:  # most cells: first, and without an isinstance chain
        return value or None
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def load_xlsx(
    con: duckdb.DuckDBPyConnection,
    path: Path | str,
    table: str,
    *,
    delimiter: str = ",",  # unused: accepted so every reader has one signature
    display: str | None = None,
    workdir: Path | None = None,
    batch_rows: int = 50_000,
    defer: bool = False,  # unused: a workbook is always loaded at once
    progress: Callable[[str], None] | None = None,
    header_names: tuple[set[str], str] | None = None,
    sheet: str | None = None,
) -> LoadedSource:
    """Load the first visible worksheet of an .xlsx workbook (or the one named `sheet`) into
    `table` (c0..cN, text), in batches; `progress` hears how many rows are in after each
    batch (a large workbook takes a while).

    Row numbers stay the sheet's own: a blank row inside the data is kept (and will fail
    validation where fields are required); blank rows after the data are ignored.
    """
    import pyarrow as pa
    from python_calamine import CalamineWorkbook

    path = Path(path)
    display = display or path.name
    src = LoadedSource(path=path, display=display, table=table, encoding="xlsx")
    if not path.exists():
        src.findings.append(
            _error("file_not_found", f"the file {path} does not exist; check the path.", display)
        )
        return src
    if path.stat().st_size == 0:
        src.findings.append(
            _error("empty_file", "the file is empty (0 bytes): export the extract again.", display)
        )
        return src
    if not _IDENT.fullmatch(table):
        raise ValueError(f"not a safe table name: {table!r}")
    try:
        # calamine (Rust) reads the cells' stored values, as Excel last saved them: a 100,000-row
        # export in about 4 s, where openpyxl's read-only mode took 44 s.
        book = CalamineWorkbook.from_path(str(path))
        names = book.sheet_names
        named = sheet
        if named is not None:
            # Asked for by name (`--sheet`): that one, hidden or not.
            index, hidden = (names.index(named), []) if named in names else (None, [])
        else:
            index, hidden = _first_visible_sheet(book)
        sheet = book.get_sheet_by_index(index) if index is not None else None
    except Exception as exc:  # calamine raises several types for a damaged or non-xlsx file
        with path.open("rb") as fh:
            head = fh.read(8)
        if head == _COMPOUND_FILE:
            # An .xlsx is a zip; Excel writes a workbook saved with a password (encrypted) in
            # the older compound-file container, as it writes an old .xls.
            why = (
                "the file is not an .xlsx workbook inside: it is password-protected (Excel"
                " encrypts it), or an older .xls workbook renamed .xlsx. Remove the password"
                " (File > Info > Protect Workbook > Encrypt with Password, cleared) or save it"
                " as 'Excel Workbook (.xlsx)', or export the sheet as 'CSV UTF-8'."
            )
        else:
            why = (
                f"the file could not be opened as an Excel workbook ({type(exc).__name__}). Save"
                " it again from Excel as .xlsx, or export the sheet as 'CSV UTF-8'."
            )
        src.findings.append(_error("unreadable", why, display))
        return src
    try:
        if sheet is None and named is not None:
            src.findings.append(
                _error(
                    "no_sheet",
                    f"the workbook has no sheet named {named!r}; its sheets are"
                    f" {', '.join(map(repr, names))}. Give --sheet one of them (the name as"
                    " on its tab).",
                    display,
                )
            )
            return src
        if sheet is None:
            src.findings.append(
                _error(
                    "no_sheet",
                    "the workbook has no visible worksheet (every sheet is hidden, or a chart)."
                    " Unhide the sheet with the extract, or export it as 'CSV UTF-8'.",
                    display,
                )
            )
            return src
        if len(names) > 1 and named is None:
            skipped = (
                f" Hidden sheets before it were not read: {', '.join(map(repr, hidden))}."
                if hidden
                else ""
            )
            src.findings.append(
                Finding(
                    "warning",
                    "several_sheets",
                    f"the workbook has {len(names)} sheets; only the first visible one,"
                    f" {sheet.name!r}, was read.{skipped}",
                    file=display,
                )
            )
        rows = _sheet_rows(sheet)
        header_row = next(rows, None)
        if header_row is None or all(v is None or v == "" for v in header_row):
            other = (
                _sheet_with_header(book, index, header_names[0])
                if header_names and named is None
                else None
            )
            elsewhere = (
                f" Sheet {other!r} has the headings: give --sheet {other!r} to read it, or"
                " move it first."
                if other
                else ""
            )
            src.findings.append(
                _error(
                    "no_header",
                    f"the first row of sheet {sheet.name!r} is empty; the sheet needs a header"
                    f" row.{elsewhere}",
                    display,
                    row=1,
                )
            )
            return src
        while header_row and header_row[-1] in (None, ""):
            header_row = header_row[:-1]
        src.header = [(_cell_text(v) or "").strip() for v in header_row]
        ncols = len(src.header)
        if not src.ok:
            return src
        if header_names and not header_names_in(src.header, header_names[0]):
            # Not a header: a report's title above the headings gives a header of one cell
            # and every row a "value beyond the header", which would say nothing useful.
            first_rows = zip(range(2, 2 + HEADER_SEARCH_ROWS), rows, strict=False)
            below = header_below(
                ((n, [_cell_text(v) for v in values]) for n, values in first_rows),
                header_names[0],
            )
            finding = no_header_finding(src.header, header_names[1], display, below)
            other = None if below or named else _sheet_with_header(book, index, header_names[0])
            if other is not None:
                # The data on another sheet (a notes sheet first): say where, not "export
                # the file with its headings in the first row".
                finding = _error(
                    "no_header",
                    f"the first visible sheet, {sheet.name!r}, has no header row:"
                    f" {_none_of(src.header, header_names[1])}. Sheet {other!r} has the"
                    f" headings: give --sheet {other!r} to read it, or move it first.",
                    display,
                    row=1,
                )
            src.findings.append(finding)
            return src
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(
            f"CREATE TABLE {table} ("  # noqa: S608 - positional names only
            + ", ".join(f"c{i} VARCHAR" for i in range(ncols))
            + ")"
        )
        pending_blank = 0
        batch: list[list[str | None]] = [[] for _ in range(ncols)]
        count = 0

        def flush() -> None:
            nonlocal batch
            if not batch[0]:
                return
            arrow = pa.table({f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(batch)})
            con.register("owf_xlsx_batch", arrow)
            con.execute(f"INSERT INTO {table} SELECT * FROM owf_xlsx_batch")  # noqa: S608
            con.unregister("owf_xlsx_batch")
            batch = [[] for _ in range(ncols)]
            if progress is not None:
                progress(f"{count:,} rows read")

        beyond: list[tuple[int, int]] = []  # (sheet row, column) of values with no heading
        for sheet_row, values in enumerate(rows, start=2):
            if len(values) > ncols:
                extra = next(
                    (ncols + i + 1 for i, v in enumerate(values[ncols:]) if _cell_text(v)), None
                )
                if extra is not None:
                    beyond.append((sheet_row, extra))
            if count < NUMERIC_LOOK_ROWS:
                for i, v in enumerate(values[:ncols]):
                    if type(v) in (int, float) and i not in src.numeric_columns:
                        src.numeric_columns[i] = sheet_row
            cells = [_cell_text(v) for v in values[:ncols]]
            cells += [None] * (ncols - len(cells))
            if all(c is None or c.strip() == "" for c in cells):
                pending_blank += 1
                continue
            for _ in range(pending_blank):  # a blank row inside the data keeps its place
                for col in batch:
                    col.append(None)
                count += 1
            pending_blank = 0
            for col, cell in zip(batch, cells, strict=True):
                col.append(cell)
            count += 1
            if len(batch[0]) >= batch_rows:
                flush()
        flush()
        src.rows = count
        for sheet_row, column in beyond[:10]:
            src.findings.append(
                _error(
                    "value_beyond_header",
                    f"row {sheet_row} has a value in column {column}, to the right of the last"
                    f" column with a heading ({ncols}); it would be lost. Give that column a"
                    " heading (and map it, or list it under the profile's ignore), or delete it."
                    + (f" {len(beyond)} rows are like this." if len(beyond) > 10 else ""),
                    display,
                    row=sheet_row,
                )
            )
        cells = _sheet_cells(path, index)
        src.findings += _read_as_empty(
            cells.errors,
            "excel_error",
            "holds an Excel error (such as #N/A or #REF!) on this row, not a value: it was read"
            " as empty. Correct the formula or clear the cell in the workbook.",
            src.header,
            display,
        )
        src.findings += _read_as_empty(
            cells.uncalculated,
            "formula_not_calculated",
            "holds a formula that was never calculated on this row (the workbook was written by"
            " a program and not saved by Excel since), so it has no value: it was read as empty."
            " Open the workbook in Excel and save it, or replace the formulas by their values.",
            src.header,
            display,
        )
        merged = sorted(
            (r0 + 1, c0 + 1, r1 + 1, c1 + 1)
            for (r0, c0), (r1, c1) in sheet.merged_cell_ranges or []
            if (r1, c1) != (r0, c0)
        )
        for row, column, last_row, last_column in merged[:10]:
            name = src.header[column - 1] if column <= ncols else ""
            ref = f"{_column_letters(column)}{row}:{_column_letters(last_column)}{last_row}"
            rows_ = f"rows {row}-{last_row}" if last_row > row else f"row {row}"
            src.findings.append(
                Finding(
                    "warning",
                    "merged_cells",
                    f"cells {ref} ({rows_}) are merged: Excel shows one value across them, but"
                    " only the first cell holds it, and the others were read as empty. Unmerge"
                    " the cells and fill in each one."
                    + (f" {len(merged)} ranges are merged." if len(merged) > 10 else ""),
                    file=display,
                    row=row,
                    field=column_label(name, column) if column <= ncols else None,
                )
            )
    except Exception as exc:
        src.findings.append(
            _error(
                "unreadable",
                f"the workbook could not be read to the end ({type(exc).__name__}); it may be"
                " damaged. Save it again from Excel, or export the sheet as 'CSV UTF-8'.",
                display,
            )
        )
    finally:
        book.close()
    return src


def _read_as_empty(
    cells: list[tuple[int, int]], rule: str, says: str, header: list[str], display: str
) -> list[Finding]:
    """A warning for each of the first ten `cells` (row, column) that `says` why the cell
    was read as empty; the tenth-and-later are counted in the first's message."""
    out = []
    for row, column in cells[:10]:
        name = header[column - 1] if column <= len(header) else ""
        out.append(
            Finding(
                "warning",
                rule,
                f"{column_phrase(name, column)} {says}"
                + (f" {len(cells)} cells are like this." if len(cells) > 10 else ""),
                file=display,
                row=row,
                field=column_label(name, column) if column <= len(header) else None,
            )
        )
    return out


def _sheet_with_header(book, skip: int, names: set[str]) -> str | None:
    """The name of the first other worksheet whose row 1 holds the expected column names."""
    from python_calamine import SheetTypeEnum

    for index, meta in enumerate(book.sheets_metadata):
        if index == skip or meta.typ != SheetTypeEnum.WorkSheet:
            continue
        try:
            first = next(_sheet_rows(book.get_sheet_by_index(index)), None)
        except Exception:  # noqa: BLE001 - a sheet calamine cannot read is not the one
            continue
        if first and header_below([(1, [_cell_text(v) for v in first])], names):
            return meta.name
    return None


# How many data rows of a workbook are looked at for numbers in a column (numeric_columns).
NUMERIC_LOOK_ROWS = 200


def _first_visible_sheet(book) -> tuple[int | None, list[str]]:
    """(index of the first worksheet that is not hidden, names of hidden sheets before it):
    the sheet an analyst sees first when opening the workbook. A hidden sheet is often an
    old copy or a lookup table, never what was meant to be sent; (None, ...) if none."""
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    hidden: list[str] = []
    for index, meta in enumerate(book.sheets_metadata):
        if meta.visible != SheetVisibleEnum.Visible:
            hidden.append(meta.name)
        elif meta.typ == SheetTypeEnum.WorkSheet:
            return index, hidden
    return None, hidden


@dataclass
class SheetCells:
    """Cells that calamine reads as empty though Excel shows something, from the sheet's XML
    (calamine gives merged ranges itself): (row, column), 1-based."""

    errors: list[tuple[int, int]] = field(default_factory=list)  # #N/A, #REF!, ...
    uncalculated: list[tuple[int, int]] = field(default_factory=list)  # formula, no value


def _sheet_cells(path: Path, index: int = 0) -> SheetCells:
    """Cells of sheet `index` (in the workbook's order) holding an Excel error (#N/A, #REF!)
    or a formula never calculated (a workbook written by a program, not saved by Excel since,
    keeps the formula and no value), both of which calamine reads as empty.

    The workbook and its relationships name the sheet's part, which is streamed in chunks
    cut after a cell's end, so every cell looked at is whole. Such cells are few: one byte
    search per kind and chunk finds candidates, and only those cells are parsed (a cell's
    reference is written before its type, as Excel and every writer here do). Formulas are
    looked for by the end of a formula's tag (`f>`): a shared formula's later cells
    (`<f t="shared" si="0"/>`) come after the cell that holds it, so from that cell on every
    chunk is looked through. An unusual layout gives none, as before these checks."""
    import xml.etree.ElementTree as ET
    import zipfile

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    pkg = "{http://schemas.openxmlformats.org/package/2006/relationships}"
    found = SheetCells()
    try:
        with zipfile.ZipFile(path) as z:
            sheets = ET.fromstring(z.read("xl/workbook.xml")).findall(f"{main}sheets/{main}sheet")
            first = sheets[index]
            rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
            target = next(
                r.get("Target", "")
                for r in rels.iter(f"{pkg}Relationship")
                if r.get("Id") == first.get(f"{rel}id")
            )
            part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            formulas = False
            with z.open(part) as fh:
                carry = b""
                while chunk := fh.read(CHUNK):
                    data = carry + chunk
                    end = data.rfind(_CELL_END) + len(_CELL_END)
                    if end < len(_CELL_END):  # no whole cell: a cell is never this long
                        end = max(0, len(data) - _CELL_MAX)
                    formulas = _note_cells(data, end, found, formulas)
                    carry = data[end:]
                _note_cells(carry, len(carry), found, formulas)
    except (
        KeyError,
        IndexError,
        StopIteration,
        AttributeError,
        OSError,
        ET.ParseError,
        zipfile.BadZipFile,
    ):
        return found
    return found


def _note_cells(data: bytes, end: int, found: SheetCells, formulas: bool) -> bool:
    """Note the error and uncalculated cells of `data[:end]`; returns whether formulas have
    been seen (so that the next chunk is looked through for shared ones)."""
    at = data.find(_ERROR_TYPE, 0, end)
    while at >= 0:
        tag = data[data.rfind(b"<", 0, at) : at]
        ref = _CELL_REF.search(tag)
        if ref and _CELL_TAG.match(tag):
            found.errors.append((int(ref.group(2)), _column_number(ref.group(1).decode())))
        at = data.find(_ERROR_TYPE, at + 1, end)
    if formulas or data.find(b"f>", 0, end) >= 0:
        for formula in _FORMULA.finditer(data, 0, end):
            formulas = True
            start = data.rfind(b"<", 0, data.rfind(b"c ", 0, formula.start()) + 1)
            close = data.find(_CELL_END, formula.start(), end)
            tag = data[start : data.find(b">", start) + 1]
            if start < 0 or close < 0 or not _CELL_TAG.match(tag):
                continue
            ref = _CELL_REF.search(tag)
            if ref and not _CELL_VALUE.search(data, formula.end(), close):
                found.uncalculated.append(
                    (int(ref.group(2)), _column_number(ref.group(1).decode()))
                )
    return formulas


# The first bytes of a compound file (OLE2): an encrypted workbook, or an old .xls.
_COMPOUND_FILE = bytes.fromhex("d0cf11e0a1b11ae1")
_ERROR_TYPE = b't="e"'
_CELL_TAG = re.compile(rb"<(?:\w+:)?c\s")
_CELL_REF = re.compile(rb'\sr="([A-Z]{1,3})([0-9]+)"')
_CELL_END = b"</c>"
_CELL_MAX = 512 * 1024  # longer than any cell: Excel holds at most 32,767 characters in one
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_CELL_VALUE = re.compile(rb"<(?:\w+:)?(?:v>[^<]|is>)")


def _column_letters(number: int) -> str:
    """Excel's letters for a 1-based column number: 1 -> A, 28 -> AB."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _sheet_rows(sheet):
    """The sheet's rows from row 1 and column A, as a spreadsheet numbers them: calamine starts
    each row at the first column holding a value (put back here as empty cells). An empty
    cell comes as "" (`_cell_text` makes it None, as a CSV's empty field is)."""
    lead = [None] * (sheet.start[1] if sheet.start else 0)
    for values in sheet.iter_rows():
        yield lead + values if lead else values


# Readers are looked up by file suffix.
READERS: dict[str, Callable[..., LoadedSource]] = {
    ".csv": load_csv,
    ".txt": load_csv,
    ".xlsx": load_xlsx,
}
