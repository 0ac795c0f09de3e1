"""YAML files validated against JSON Schema, with line numbers for every problem.

Governance files are data that people edit by hand, so an error must point at the line.
The document is parsed once into its node tree (which carries line numbers) and the plain
data built from it; a JSON path into the data is turned into a line by walking the node tree.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from pipelines.errors import Finding
from pipelines.yamlload import compose, construct


@dataclass
class YamlDoc:
    path: Path
    data: Any
    root: yaml.Node | None

    def line(self, path: list | tuple) -> int | None:
        """1-based line of the node at a JSON path (keys and list indexes)."""
        node = self.root
        if node is None:
            return None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                nxt = None
                for k, v in node.value:
                    if k.value == str(part):
                        nxt = v
                        break
                if nxt is None:
                    break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    break
                node = node.value[part]
            else:
                break
        return node.start_mark.line + 1


def _dates_to_text(value: Any) -> Any:
    """YAML turns 2026-01-01 into a date; the schemas (and JSON) speak ISO text."""
    if isinstance(value, dict):
        return {k: _dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_to_text(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def read_yaml(path: Path, display: str) -> tuple[YamlDoc | None, list[Finding]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [
            Finding(
                "error",
                "missing_file",
                f"{path} does not exist: every governance folder needs it. Restore it from"
                " version control or the project's governance/ folder.",
                display,
            )
        ]
    except UnicodeDecodeError:
        return None, [Finding("error", "encoding", "the file is not UTF-8 text.", display)]
    try:
        root = compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [Finding("error", "yaml_syntax", f"not valid YAML: {problem}.", display, row)]
    cycle = _cycle(root)
    if cycle is not None:
        # Found in review: `x: &a [*a]` (a list holding itself) kept `owf governance check`
        # at full CPU for over ten minutes.
        return None, [
            Finding(
                "error",
                "yaml_alias",
                "a value holds itself through an anchor and alias (& and *): no governance"
                " value can. Replace the alias with the value it stands for.",
                display,
                cycle,
            )
        ]
    try:
        data = construct(root)
    except (ValueError, OverflowError) as exc:
        # An unquoted date that is no day (2024-02-30): PyYAML raises from its constructor,
        # without a position (found in review: a ValueError trace from every command).
        return None, [
            Finding(
                "error",
                "yaml_value",
                f"a value cannot be read ({exc}): a date must be a real day, written"
                " YYYY-MM-DD; quote a value that is meant as text.",
                display,
                _bad_timestamp_row(root),
            )
        ]
    repeated = [
        Finding(
            "error",
            "duplicate_key",
            f"{key!r} is written twice in the same block (first at row {first}); YAML keeps"
            " only the last, so the first says something the hub never reads. Keep one.",
            display,
            row,
            key,
        )
        for key, first, row in _repeated_keys(root)
    ]
    if repeated:
        return None, repeated
    return YamlDoc(path, _dates_to_text(data), root), []


def _cycle(node: yaml.Node | None) -> int | None:
    """The row of a node that holds itself through an alias (`x: &a [*a]`), else None.
    Aliases that only repeat a value are fine (yaml.safe_dump writes them for shared lists)."""
    done: set[int] = set()
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(node, False)] if node is not None else []
    while stack:
        n, leaving = stack.pop()
        if leaving:
            on_path.discard(id(n))
            done.add(id(n))
            continue
        if id(n) in on_path:
            return n.start_mark.line + 1
        if id(n) in done:
            continue
        on_path.add(id(n))
        stack.append((n, True))
        if isinstance(n, yaml.MappingNode):
            stack.extend((v, False) for _, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((v, False) for v in n.value)
    return None


def _bad_timestamp_row(node: yaml.Node | None) -> int | None:
    """The row of the first scalar YAML takes for a date that is no date."""
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.ScalarNode) and n.tag == "tag:yaml.org,2002:timestamp":
            try:
                construct(n)
            except (ValueError, OverflowError):
                return n.start_mark.line + 1
        elif isinstance(n, yaml.MappingNode):
            stack.extend(v for _, v in reversed(n.value))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(reversed(n.value))
    return None


def _repeated_keys(node: yaml.Node | None) -> list[tuple[str, int, int]]:
    """(key, its first row, the row it is repeated on) for every key a mapping repeats."""
    out = []
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in n.value:
                row = k.start_mark.line + 1
                if isinstance(k, yaml.ScalarNode):
                    if k.value in seen:
                        out.append((k.value, seen[k.value], row))
                    seen.setdefault(k.value, row)
                stack.append(v)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return sorted(out, key=lambda t: t[2])


def load_schema(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def schema_findings(doc: YamlDoc, schema: dict, display: str) -> list[Finding]:
    if doc.data is None:
        return [
            Finding(
                "error",
                "empty_file",
                "the file is empty (or holds only comments): restore it from a backup or from"
                f" the project's governance/ folder (its shape: {Path(schema['$id']).name}).",
                display,
            )
        ]
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    findings = []
    for err in sorted(validator.iter_errors(doc.data), key=lambda e: list(e.absolute_path)):
        path = list(err.absolute_path)
        field = ".".join(str(p) for p in path) or None
        hint = (
            " Write dates as YYYY-MM-DD, for example 2028-03-31."
            if err.validator == "format" and err.validator_value == "date"
            else ""
        )
        findings.append(
            Finding(
                "error",
                "schema",
                f"{err.message} (rule: {err.validator}; see {Path(schema['$id']).name}).{hint}",
                display,
                doc.line(path),
                field,
            )
        )
    return findings
