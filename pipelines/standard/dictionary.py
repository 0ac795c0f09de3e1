"""Generate the human data dictionary (Markdown) from the machine-readable standard.

The dictionary is committed beside the standard and a test fails when it is out of date, so
the document an analyst reads is always the standard the code enforces.
Regenerate with `owf standard docs`.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.standard.model import RESERVED_CODES, SOURCE, SUBMITTED, Field, Standard

DICTIONARY_NAME = "DATA_DICTIONARY.md"


def _esc(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _allowed(std: Standard, f: Field) -> str:
    if f.type == "code":
        cl = std.codelists[f.codelist]
        if len(cl.rows) <= 8:
            return ", ".join(f"`{c}`" for c in cl.codes)
        return f"code list [{f.codelist}](#code-list-{f.codelist})"
    if f.type == "identifier":
        if f.identifier == "ni_number":
            return "source: NI number; submitted: 64 hex pseudonym"
        return f"source: `{f.pattern}`; submitted: 64 hex pseudonym"
    bits = []
    if f.pattern:
        bits.append(f"`{f.pattern}`")
    if f.type == "boolean":
        bits.append("`Y`, `N`")
    if f.type == "date":
        bits.append("YYYY-MM-DD")
    if f.type == "period":
        bits.append("YYYY-MM")
    if f.min is not None or f.max is not None:
        lo = "" if f.min is None else f"{f.min:g}"
        hi = "" if f.max is None else f"{f.max:g}"
        bits.append(f"{lo} to {hi}")
    if f.max_length:
        bits.append(f"at most {f.max_length} characters")
    return "; ".join(bits) or "any text"


def _forms(f: Field) -> str:
    if set(f.forms) == {SOURCE, SUBMITTED}:
        return "both"
    return " and ".join(f.forms) + " only"


def render_dictionary(std: Standard) -> str:
    out: list[str] = []
    w = out.append
    w(f"# {std.name} — data dictionary, version {std.version}")
    w("")
    w(
        "<!-- Generated from standard.yaml by `owf standard docs`. Do not edit by hand:"
        " a test fails when this file and the standard disagree. -->"
    )
    w("")
    w(
        f"Released {std.released}. Extracts: "
        + ", ".join(f"[{e.name}](#extract-{e.name})" for e in std.extracts.values())
        + "."
    )
    w("")
    w("## File format")
    w("")
    for k, v in std.file_format.items():
        w(f"- **{k}**: {v}")
    w("")
    w("## Forms")
    w("")
    w(
        "- **source**: the extract as the organisation holds it, checked on the organisation's"
        " machine by `owf submit check` (NI numbers, local assignment numbers, optionally dates"
        " of birth)."
    )
    w(
        "- **submitted**: what travels in a package and lands at the hub: identifiers replaced by"
        " pseudonyms, date of birth replaced by age band, fields the agreement does not permit"
        " dropped."
    )
    w("")
    w("## Classifications")
    w("")
    w("| classification | meaning |")
    w("|---|---|")
    for k, v in std.classifications.items():
        w(f"| `{k}` | {_esc(v)} |")
    w("")
    for e in std.extracts.values():
        w(f"## Extract: {e.name}")
        w("")
        w(f"**{e.title}.** {e.description}")
        w("")
        w(f"- Grain: {e.grain}")
        w(f"- Key: {', '.join(f'`{k}`' for k in e.key)}")
        if e.may_be_empty:
            w("- A file with a header and no rows is valid (nothing to report that month).")
        w("")
        w("| field | type | required | allowed values | classification | form | description |")
        w("|---|---|---|---|---|---|---|")
        for f in e.fields:
            required = "yes" if f.required else "no"
            if f.source_alternative:
                required += f" (or `{f.source_alternative}` at source)"
            w(
                f"| `{f.name}` | {f.type} | {required} | {_esc(_allowed(std, f))} |"
                f" {f.classification} | {_forms(f)} | {_esc(f.description)} |"
            )
        w("")
        if e.rules:
            w("Cross-field rules:")
            w("")
            for r in e.rules:
                w(f"- `{r.id}` ({r.kind.replace('_', ' ')}, on `{r.field}`): {_esc(r.description)}")
            w("")
    w("## Code lists")
    w("")
    w(
        "Code lists live in `governance/standard/codelists/` as CSV, read as text (leading zeros"
        " matter). The validator, the submission tool and the dbt seeds all read these files."
        " Codes are unique within a list, and "
        + " and ".join(f"`{c}`" for c in sorted(RESERVED_CODES))
        + " are reserved: the models use them for the total of a breakdown and for a value not"
        " recorded."
    )
    w("")
    for cl in std.codelists.values():
        w(f"### Code list: {cl.name}")
        w("")
        w(f"{_esc(cl.description)} File `{cl.file.relative_to(std.path)}`, {len(cl.rows)} rows.")
        w("")
        w("| " + " | ".join(cl.columns) + " |")
        w("|" + "---|" * len(cl.columns))
        for r in cl.rows:
            w(
                "| "
                + " | ".join(f"`{_esc(r[c])}`" if c == cl.key else _esc(r[c]) for c in cl.columns)
                + " |"
            )
        w("")
    return "\n".join(out)


def dictionary_path(std: Standard) -> Path:
    return std.path / DICTIONARY_NAME


def write_dictionary(std: Standard) -> Path:
    path = dictionary_path(std)
    path.write_text(render_dictionary(std), encoding="utf-8")
    return path


def dictionary_is_current(std: Standard) -> bool:
    path = dictionary_path(std)
    return path.exists() and path.read_text(encoding="utf-8") == render_dictionary(std)
