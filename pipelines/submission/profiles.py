"""Column mapping profiles: an ESR or HR export to one extract of the standard.

A profile is a YAML data file (governance/profiles/<name>.yaml, validated against
governance/schemas/profile.schema.json) that says, for each standard field, which source
column feeds it and how its values are recoded: a value map, a date format, a small fixed set
of transforms, or a derivation through the standard's code lists. Users add profiles without
code. The built-in profile "standard" reads files already in the standard's columns.

Mapping runs as one DuckDB statement over the loaded source (columns c0..cN): source column
names from the user's file never enter SQL text, and every constant, map and format is a
bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from pipelines.errors import Finding, OwfError
from pipelines.governance.yamlfile import load_schema, read_yaml, schema_findings
from pipelines.paths import governance_dir
from pipelines.standard.model import SOURCE, Extract, Standard
from pipelines.standard.reader import (
    LoadedSource,
    column_label,
    column_phrase,
    header_findings,
    header_key,
    mostly_unknown,
    no_header_finding,
    select_into,
)
from pipelines.standard.validator import (
    SqlParams,
    check_header,
    create_field_view,
    month_of_first_day_sql,
    ni_fields,
    period_fields,
    qi,
    standard_header_names,
)

STANDARD_PROFILE = "standard"
MAPPED_TABLE = "owf_fields"

TRANSFORMS = {
    "upper": "upper({x})",
    "lower": "lower({x})",
    "first_token": "split_part({x}, ' ', 1)",
    "period_from_slash": "replace({x}, '/', '-')",
    "period_from_yyyymm": "substr({x}, 1, 4) || '-' || substr({x}, 5, 2)",
}
# What each transform does, in the words of a finding on its field.
TRANSFORM_WORDS = {
    "upper": "upper-cased",
    "lower": "lower-cased",
    "first_token": "cut to its first word",
    "period_from_slash": "with '/' written as '-'",
    "period_from_yyyymm": "YYYYMM written as YYYY-MM",
}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    extract: str
    columns: dict[str, dict]
    ignore: tuple[str, ...] = ()
    delimiter: str | None = None
    path: Path | None = None

    @property
    def is_standard(self) -> bool:
        return self.name == STANDARD_PROFILE


@dataclass
class MappingResult:
    findings: list[Finding] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)  # standard fields present after mapping
    dropped_source_columns: list[str] = field(default_factory=list)  # in the file, not sent
    # field -> where it is in the file and what the profile does to it first, for findings
    # ("column 'Tm Year Month', with '/' written as '-'"): only for a profile's own mapping.
    source_of: dict[str, str] = field(default_factory=dict)

    def locate(self, findings: list[Finding]) -> list[Finding]:
        """`findings` on mapped fields, each saying the column it is in this file and, where
        the profile changed the value before the rules saw it, that the value shown is the
        changed one (the analyst looking for "2026-13" finds "2026/13")."""
        return [
            replace(f, message=f"{f.message} (In this file: {self.source_of[f.field]}.)")
            if f.field in self.source_of and f.file is not None
            else f
            for f in findings
        ]

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def profiles_dirs(governance: Path | None = None) -> list[Path]:
    """Where profiles are looked for by name: the governance folder given (--governance),
    then the tool's own (which ships the standard and ESR profiles)."""
    dirs = [Path(governance) / "profiles"] if governance is not None else []
    own = governance_dir() / "profiles"
    return dirs + [own] if own not in dirs else dirs


def available_profiles(governance: Path | None = None) -> list[str]:
    names = {p.stem for d in profiles_dirs(governance) for p in d.glob("*.yaml")}
    return [STANDARD_PROFILE] + sorted(names)


def _not_a_folder(path: Path, governance: Path | None) -> None:
    if path.is_dir():
        raise OwfError(
            f"mapping profile {path} is a folder: give a profile's name, or the path of its"
            f" .yaml file (available: {', '.join(available_profiles(governance))})"
        )


def _check_columns_sent_or_ignored(path: Path, data: dict) -> None:
    """A column is sent or ignored, never both. Found in review: a profile mapping
    `local_job_title: {from: Full Name}` with Full Name still under `ignore` packaged every
    person's name as their job title (a name is no pattern the identifier scan can know)."""
    ignored = {header_key(str(c)) for c in data.get("ignore") or []}
    for field_name, spec in data["columns"].items():
        source = spec.get("from")
        if source is not None and header_key(str(source)) in ignored:
            raise OwfError(
                f"mapping profile {path}, column {field_name}: it is filled from"
                f" {source!r}, which the profile also lists under `ignore` (never sent). A"
                " column is either sent or ignored: if it holds what the field should, remove"
                " it from `ignore`; if it must never leave the organisation (a name, an"
                f" address), map {field_name} from another column. Nothing was read."
            )


def load_profile(
    name_or_path: str | None, extract: Extract, std: Standard, governance: Path | None = None
) -> Profile:
    """A profile by name (<governance>/profiles/<name>.yaml, then the tool's own
    governance/profiles/) or by path; None means standard."""
    if name_or_path in (None, STANDARD_PROFILE):
        return Profile(
            STANDARD_PROFILE, "files already in the standard's columns", extract.name, {}
        )
    path = Path(name_or_path)
    _not_a_folder(path, governance)  # given as a path
    if path.suffix not in (".yaml", ".yml"):
        candidates = [d / f"{name_or_path}.yaml" for d in profiles_dirs(governance)]
        path = next((c for c in candidates if c.exists()), candidates[0])
    else:
        candidates = [path]
    _not_a_folder(path, governance)  # a name whose <name>.yaml is a folder
    if not path.exists():
        raise OwfError(
            f"mapping profile {name_or_path!r} not found (looked for"
            f" {' and '.join(map(str, candidates))}); available:"
            f" {', '.join(available_profiles(governance))}, or give the path of a profile file"
        )
    doc, findings = read_yaml(path, str(path))
    if doc is not None:
        findings += schema_findings(
            doc, load_schema(governance_dir() / "schemas" / "profile.schema.json"), str(path)
        )
    if findings:
        raise OwfError(
            f"mapping profile {path} is not valid:\n"
            + "\n".join(f"  {f.render()}" for f in findings)
        )
    data = doc.data
    for field_name, spec in data["columns"].items():
        for k, v in (spec.get("map") or {}).items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise OwfError(
                    f"mapping profile {path}, column {field_name}: map entry {k!r}: {v!r} is not"
                    " text. Quote values such as Yes, No, On and Off, which YAML reads as true"
                    " or false."
                )
    if data["extract"] not in std.extracts:
        raise OwfError(
            f"mapping profile {path}: extract {data['extract']!r} is not an extract of the"
            f" standard v{std.version} ({', '.join(std.extracts)}); correct the profile's"
            " `extract:`"
        )
    if data["extract"] != extract.name:
        raise OwfError(
            f"mapping profile {data['name']} ({path}) maps a {data['extract']} extract, not"
            f" {extract.name}; choose the profile for this extract"
        )
    _check_columns_sent_or_ignored(path, data)
    unknown = [f for f in data["columns"] if f not in extract.field_names(SOURCE)]
    if unknown:
        raise OwfError(
            f"mapping profile {path} maps to {', '.join(unknown)}, which "
            f"{'is not a field' if len(unknown) == 1 else 'are not fields'} of {extract.name}"
            f" in the standard v{std.version}"
        )
    return Profile(
        name=data["name"],
        description=data["description"],
        extract=data["extract"],
        columns=data["columns"],
        ignore=tuple(data.get("ignore", [])),
        delimiter=data.get("delimiter"),
        path=path,
    )


def header_names(profile: Profile, extract: Extract) -> tuple[set[str], str]:
    """The column names (lower case) the first row of a file read through `profile` holds,
    and how to describe them: the columns it maps or ignores, or the standard's fields."""
    if profile.is_standard:
        return standard_header_names(extract)
    ignored = {header_key(name) for name in profile.ignore}
    known = {header_key(spec["from"]) for spec in profile.columns.values() if "from" in spec}
    return known | ignored, f"a column that profile {profile.name} maps or ignores"


def _numeric_identifiers(
    src: LoadedSource, extract: Extract, positions: dict[str, int]
) -> list[Finding]:
    """A warning for each identifier (assignment number) that a workbook holds as numbers:
    a number format can show leading zeros the cell does not hold, and the pseudonym is made
    from the number without them, unlike a CSV export of the same sheet (found in review:
    00012345 in Excel, 12345 in the package, so a month sent as CSV would not link)."""
    out = []
    for f in extract.fields:
        pos = positions.get(f.name)
        if f.type != "identifier" or pos is None or pos not in src.numeric_columns:
            continue
        out.append(
            Finding(
                "warning",
                "identifier_as_number",
                f"{f.name} ({column_phrase(src.header[pos], pos + 1)}) holds numbers, not text,"
                " in the workbook: if Excel shows them with leading zeros (a number format),"
                " the cells do not hold those zeros and the pseudonym is made without them,"
                " unlike a CSV export of the same sheet. If it does, export the sheet as"
                " 'CSV UTF-8' and send that instead (and every month the same way).",
                src.display,
                src.numeric_columns[pos],
                f.name,
            )
        )
    return out


def _check_date_formats(con: duckdb.DuckDBPyConnection, profile: Profile) -> None:
    """Every `date_format` of the profile is one DuckDB's strptime reads, checked on the
    run's connection before any row is read. Found in review: `%Q` or a trailing `%` failed
    with a DuckDB trace once the rows were mapped. (Checked here, not when the profile is
    loaded: a connection of its own cost 0.015-0.02 s of every `owf submit prepare`.)"""
    for field_name, spec in profile.columns.items():
        fmt = spec.get("date_format")
        if fmt is None:
            continue
        try:
            con.execute("SELECT try_strptime('2000-01-01', $f)", {"f": str(fmt)})
        except duckdb.Error as exc:
            raise OwfError(
                f"mapping profile {profile.path}, column {field_name}: date_format {fmt!r} is"
                f" not a date format ({str(exc).splitlines()[0]}). Write it with strptime"
                " codes, such as %d/%m/%Y for 31/12/2026. Nothing was read."
            ) from None


def apply_profile(
    con: duckdb.DuckDBPyConnection,
    src: LoadedSource,
    profile: Profile,
    extract: Extract,
    std: Standard,
) -> MappingResult:
    """Create MAPPED_TABLE (__row + standard fields, text, source form) from the source."""
    _check_date_formats(con, profile)
    result = MappingResult()
    if profile.is_standard:
        positions, findings = check_header(src.header, extract, SOURCE, src.display)
        result.findings += findings
        if result.ok:
            result.findings += create_field_view(
                con,
                src,
                MAPPED_TABLE,
                positions,
                normalise_ni=ni_fields(extract, SOURCE),
                periods=period_fields(extract),
            )
            result.fields = list(positions)
            result.findings += _numeric_identifiers(src, extract, positions)
        return result

    by_name = {header_key(h): i for i, h in enumerate(src.header)}
    ignored = {header_key(name) for name in profile.ignore}
    names, expected = header_names(profile, extract)
    if src.header and not names & set(by_name):
        result.findings.append(no_header_finding(src.header, expected, src.display))
        return result
    result.findings += header_findings(src.header, src.display)
    if not result.ok:
        return result
    params = SqlParams()
    ni_names, period_names = set(ni_fields(extract, SOURCE)), set(period_fields(extract))
    exprs: list[str] = []
    used: set[int] = set()
    sources: dict[str, int] = {}  # field -> the source column it is mapped from
    missing_from: set[str] = set()
    for field_name, spec in profile.columns.items():
        if "from" in spec:
            pos = by_name.get(header_key(spec["from"]))
            if pos is None:
                missing_from.add(field_name)
                result.findings.append(
                    Finding(
                        "error",
                        "missing_column",
                        f"column {spec['from']!r}, which profile {profile.name} maps to"
                        f" {field_name}, is missing from the header. Export the report with"
                        " that column, or use a profile that matches this layout.",
                        src.display,
                        1,
                        spec["from"],
                    )
                )
                continue
            used.add(pos)
            sources[field_name] = pos
            x = f"nullif(trim(c{int(pos)}), '')"
            changes = []
            if spec.get("transform"):
                x = TRANSFORMS[spec["transform"]].format(x=x)
                changes.append(
                    TRANSFORM_WORDS.get(spec["transform"], f"changed by {spec['transform']}")
                )
            if spec.get("date_format"):
                changes.append(f"a date written {spec['date_format']} read as YYYY-MM-DD")
            if spec.get("map"):
                changes.append(f"a value profile {profile.name}'s map lists translated")
            result.source_of[field_name] = column_phrase(src.header[pos], pos + 1) + (
                f", {' and '.join(changes)}: the value shown is after that" if changes else ""
            )
            if spec.get("date_format"):
                # Unparseable dates pass through unchanged, so validation reports their shape.
                # The format may be followed by a midnight time (Excel adds " 00:00:00" when
                # it re-saves a date column), and a year must have four digits: "%Y" reads
                # "12/04/71" as the year 71.
                fmt = spec["date_format"]
                formats = params.add([fmt, f"{fmt} %H:%M:%S", f"{fmt} %H:%M"])
                parsed = f"try_strptime({x}, {formats})"
                x = (
                    f"coalesce(CASE WHEN year({parsed}) >= 1000"
                    f" THEN strftime({parsed}, '%Y-%m-%d') END, {x})"
                )
            if spec.get("map"):
                keys = params.add(list(spec["map"].keys()))
                values = params.add(list(spec["map"].values()))
                x = f"coalesce(list_extract({values}, list_position({keys}, {x})), {x})"
            if "default" in spec:
                x = f"coalesce({x}, {params.add(spec['default'])})"
            if field_name in ni_names:
                x = f"nullif(upper(replace({x}, ' ', '')), '')"
            if field_name in period_names:
                x = month_of_first_day_sql(x)
        elif "value" in spec:
            x = params.add(spec["value"])
        else:
            x = "CAST(NULL AS VARCHAR)"  # derived below, once the fields it needs exist
        exprs.append((field_name, x))
        result.fields.append(field_name)

    # A field whose column is missing from the file is reported as that, not as a gap in
    # the profile.
    present = set(result.fields) | missing_from
    for f in extract.fields_in(SOURCE):
        if f.required and f.name not in present:
            alt = f.source_alternative
            if alt and alt in present:
                continue
            result.findings.append(
                Finding(
                    "error",
                    "profile_incomplete",
                    f"profile {profile.name} does not map required field {f.name}; add it to"
                    f" {profile.path}.",
                    src.display,
                    None,
                    f.name,
                )
            )
    dropped = [(i, h) for i, h in enumerate(src.header) if i not in used]
    quote = not mostly_unknown(src.header, header_names(profile, extract)[0])
    result.dropped_source_columns = [column_label(h, i + 1, quote=quote) for i, h in dropped]
    if not result.ok:
        return result
    rows = std.codelists["occupation_matrix"].rows
    prefixes = params.add([r["prefix"] for r in rows])
    groups = params.add([r["staff_group"] for r in rows])
    cols = []
    for name, x in exprs:
        if profile.columns[name].get("derive") == "staff_group_from_occupation_code":
            # The longest matching prefix of the standard's occupation matrix; a code that
            # matches none is OTHER_UNKNOWN (never a guess). List lookups, not joins, keep
            # the rows in file order without a sort.
            occ = next((e for n, e in exprs if n == "occupation_code"), "NULL")
            x = (
                f"CASE WHEN ({occ}) IS NULL THEN NULL ELSE coalesce("
                + ", ".join(
                    f"list_extract({groups}, list_position({prefixes}, left({occ}, {k})))"
                    for k in (3, 2, 1)
                )
                + ", 'OTHER_UNKNOWN') END"
            )
        cols.append(f"{x} AS {qi(name)}")
    # For a deferred CSV this one statement reads the file and maps it.
    result.findings += select_into(con, src, MAPPED_TABLE, ", ".join(cols), params.values)
    if not result.ok:
        return result
    unexpected = [
        column_label(h, i + 1, quote=quote) for i, h in dropped if header_key(h) not in ignored
    ]
    if unexpected:
        result.findings.append(
            Finding(
                "warning",
                "unmapped_source_column",
                f"{len(unexpected)} column(s) are neither mapped nor listed under ignore in profile"
                f" {profile.name}; they were dropped and will not be sent: {', '.join(unexpected)}.",
                src.display,
                1,
            )
        )
    result.findings += _numeric_identifiers(src, extract, sources)
    return result
