"""The common workforce data standard, loaded from governance/standard/standard.yaml.

The YAML is validated against its own JSON Schema and then checked for internal consistency
(every code list exists and has a `code` or key column, every key, rule and alternative
names a field of its extract). Everything else in the project reads the standard through
this module: there is no second copy of a column list anywhere.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from pipelines.errors import OwfError
from pipelines.paths import standard_dir
from pipelines.yamlload import safe_load

FORMS = ("source", "submitted")
SOURCE = "source"
SUBMITTED = "submitted"

PSEUDONYM_PATTERN = "^[0-9a-f]{64}$"
# Values the dbt models give a breakdown's total ('ALL') and a value not recorded
# ('NOT_RECORDED'): a code list may not use them as codes, or a group would merge with them.
RESERVED_CODES = frozenset({"ALL", "NOT_RECORDED"})

# Pattern of a National Insurance number after normalisation (upper case, no spaces).
# First letter not D, F, I, Q, U, V; second not D, F, I, O, Q, U, V; suffix A-D.
NI_NUMBER_PATTERN = "^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$"
# Prefixes that are never allocated.
NI_UNALLOCATED_PREFIXES = ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")


@dataclass(frozen=True)
class Condition:
    field: str
    in_: tuple[str, ...] | None = None
    not_in: tuple[str, ...] | None = None
    greater_than: float | None = None

    def describe(self) -> str:
        if self.in_ is not None:
            if len(self.in_) == 1:
                return f"{self.field} is {self.in_[0]}"
            return f"{self.field} is one of {', '.join(self.in_)}"
        if self.not_in is not None:
            return f"{self.field} is not one of {', '.join(self.not_in)}"
        return f"{self.field} is greater than {self.greater_than:g}"


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    field: str
    description: str
    other: str | None = None
    value: str | None = None
    when: Condition | None = None


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    classification: str
    description: str
    pattern: str | None = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    codelist: str | None = None
    identifier: str | None = None
    forms: tuple[str, ...] = FORMS
    derives: str | None = None
    source_alternative: str | None = None

    @property
    def is_pseudonymised(self) -> bool:
        return self.type == "identifier"

    def in_form(self, form: str) -> bool:
        return form in self.forms


@dataclass(frozen=True)
class Extract:
    name: str
    title: str
    description: str
    grain: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    rules: tuple[Rule, ...] = ()
    may_be_empty: bool = False

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def field_names(self, form: str = SUBMITTED) -> list[str]:
        return [f.name for f in self.fields if f.in_form(form)]

    def fields_in(self, form: str) -> list[Field]:
        return [f for f in self.fields if f.in_form(form)]


@dataclass(frozen=True)
class Codelist:
    name: str
    file: Path
    key: str
    description: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r[self.key] for r in self.rows)

    def label(self, code: str) -> str | None:
        for r in self.rows:
            if r[self.key] == code:
                return r.get("label")
        return None


@dataclass(frozen=True)
class Standard:
    name: str
    version: str
    released: str
    file_format: dict[str, str]
    classifications: dict[str, str]
    codelists: dict[str, Codelist]
    extracts: dict[str, Extract]
    path: Path = field(compare=False, default=Path("."))

    def extract(self, name: str) -> Extract:
        try:
            return self.extracts[name]
        except KeyError:
            known = ", ".join(sorted(self.extracts))
            raise OwfError(
                f"unknown extract type {name!r}: the standard v{self.version} defines {known}"
            ) from None

    def codes(self, codelist: str) -> tuple[str, ...]:
        return self.codelists[codelist].codes


def read_codelist_csv(path: Path) -> tuple[tuple[str, ...], tuple[dict[str, str], ...]]:
    """Read a code list as text: codes like "010" or "01" must keep their leading zeros.

    Every row must have exactly the header's fields (a label with an unquoted comma would
    silently shift columns in the dbt seed built from the same file)."""
    with path.open(newline="", encoding="utf-8") as fh:
        lines = list(csv.reader(fh))
    if not lines:
        raise OwfError(f"{path}: the code list is empty; it needs a header row")
    columns = tuple(lines[0])
    for number, line in enumerate(lines[1:], start=2):
        if len(line) != len(columns):
            raise OwfError(
                f"{path}, row {number}: {len(line)} fields where the header has {len(columns)};"
                " quote values that contain a comma"
            )
    rows = tuple(dict(zip(columns, line, strict=True)) for line in lines[1:])
    return columns, rows


def _schema(base: Path) -> dict:
    return json.loads((base / "standard.schema.json").read_text(encoding="utf-8"))


def _condition(raw: dict | None) -> Condition | None:
    if raw is None:
        return None
    return Condition(
        field=raw["field"],
        in_=tuple(raw["in"]) if "in" in raw else None,
        not_in=tuple(raw["not_in"]) if "not_in" in raw else None,
        greater_than=raw.get("greater_than"),
    )


def parse_standard(raw: dict, base: Path) -> Standard:
    """Build a Standard from parsed YAML, raising OwfError listing every problem found."""
    schema_errors = sorted(
        Draft202012Validator(_schema(base)).iter_errors(raw), key=lambda e: list(e.absolute_path)
    )
    if schema_errors:
        lines = [
            f"  at {'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
            for e in schema_errors
        ]
        raise OwfError(
            f"{base / 'standard.yaml'} does not match standard.schema.json:\n" + "\n".join(lines)
        )

    problems: list[str] = []
    codelists: dict[str, Codelist] = {}
    for name, spec in raw["codelists"].items():
        path = base / spec["file"]
        if not path.exists():
            problems.append(f"code list {name}: file {spec['file']} does not exist")
            continue
        columns, rows = read_codelist_csv(path)
        key = spec.get("key", "code")
        if key not in columns:
            problems.append(f"code list {name}: {spec['file']} has no column {key!r}")
            continue
        keys = [r[key] for r in rows]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            problems.append(f"code list {name}: duplicate {key} values {', '.join(dupes)}")
        if any(not k for k in keys):
            problems.append(f"code list {name}: a row has an empty {key}")
        reserved = sorted(RESERVED_CODES & set(keys))
        if reserved:
            problems.append(
                f"code list {name}: {', '.join(reserved)} is reserved (the models use it for"
                " the total of a breakdown or for a value not recorded); choose another code"
            )
        codelists[name] = Codelist(name, path, key, spec["description"], columns, rows)

    extracts: dict[str, Extract] = {}
    for ename, spec in raw["extracts"].items():
        fields = []
        for f in spec["fields"]:
            fields.append(
                Field(
                    name=f["name"],
                    type=f["type"],
                    required=f["required"],
                    classification=f["classification"],
                    description=f["description"],
                    pattern=f.get("pattern"),
                    max_length=f.get("max_length"),
                    min=f.get("min"),
                    max=f.get("max"),
                    codelist=f.get("codelist"),
                    identifier=f.get("identifier"),
                    forms=tuple(f.get("forms", FORMS)),
                    derives=f.get("derives"),
                    source_alternative=f.get("source_alternative"),
                )
            )
        rules = tuple(
            Rule(
                id=r["id"],
                kind=r["kind"],
                field=r["field"],
                description=r["description"],
                other=r.get("other"),
                value=r.get("value"),
                when=_condition(r.get("when")),
            )
            for r in spec.get("rules", [])
        )
        extract = Extract(
            name=ename,
            title=spec["title"],
            description=spec["description"],
            grain=spec["grain"],
            key=tuple(spec["key"]),
            fields=tuple(fields),
            rules=rules,
            may_be_empty=spec.get("may_be_empty", False),
        )
        names = [f.name for f in fields]
        for n in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"extract {ename}: field {n} is defined twice")
        for k in extract.key:
            if k not in names:
                problems.append(f"extract {ename}: key field {k} is not a field")
        for f in fields:
            if f.codelist and f.codelist not in raw["codelists"]:
                problems.append(
                    f"extract {ename}: field {f.name} uses unknown code list {f.codelist}"
                )
            if f.source_alternative and f.source_alternative not in names:
                problems.append(
                    f"extract {ename}: field {f.name} names unknown alternative {f.source_alternative}"
                )
            if f.derives and f.derives not in names:
                problems.append(
                    f"extract {ename}: field {f.name} derives unknown field {f.derives}"
                )
            if f.min is not None and f.max is not None and f.min > f.max:
                problems.append(f"extract {ename}: field {f.name} has min above max")
        for r in rules:
            for ref in (r.field, r.other, r.when.field if r.when else None):
                if ref is not None and ref not in names:
                    problems.append(f"extract {ename}: rule {r.id} names unknown field {ref}")
            if r.when and r.when.field in names:
                cond_field = extract.field(r.when.field)
                values = (r.when.in_ or ()) + (r.when.not_in or ())
                if cond_field.codelist and cond_field.codelist in codelists:
                    allowed = set(codelists[cond_field.codelist].codes)
                    for v in values:
                        if v not in allowed:
                            problems.append(
                                f"extract {ename}: rule {r.id} tests {r.when.field} for {v!r},"
                                f" which is not in code list {cond_field.codelist}"
                            )
        extracts[ename] = extract

    if problems:
        raise OwfError(
            f"{base / 'standard.yaml'} is inconsistent:\n" + "\n".join(f"  {p}" for p in problems)
        )
    return Standard(
        name=raw["standard"],
        version=raw["version"],
        released=str(raw["released"]),
        file_format=raw["file_format"],
        classifications=raw["classifications"],
        codelists=codelists,
        extracts=extracts,
        path=base,
    )


def read_standard_yaml(path: Path) -> dict:
    try:
        raw = safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OwfError(f"{path}: the standard file does not exist") from None
    except yaml.YAMLError as exc:
        raise OwfError(f"{path}: not valid YAML: {exc}") from None
    # YAML reads `released: 2026-11-24` as a date; the schema wants text.
    if isinstance(raw, dict) and "released" in raw:
        raw["released"] = str(raw["released"])
    return raw


@lru_cache(maxsize=8)
def _load_cached(directory: str) -> Standard:
    base = Path(directory)
    return parse_standard(read_standard_yaml(base / "standard.yaml"), base)


def load_standard(directory: Path | str | None = None) -> Standard:
    """Load and check the standard (cached per directory)."""
    base = Path(directory) if directory is not None else standard_dir()
    return _load_cached(str(base.resolve()))
