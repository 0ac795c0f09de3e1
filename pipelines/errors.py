"""Errors and findings a user can cause, shaped so that each one says where and what to do."""

from __future__ import annotations

from dataclasses import asdict, dataclass


class OwfError(Exception):
    """A problem the user can fix. The message names what, where, and what to do."""

    exit_code = 2


@dataclass(frozen=True)
class Finding:
    """One problem found in a file or a governance document.

    `row` counts the header as row 1, as a spreadsheet shows it, so data row 1 is row 2.
    `found` describes the kind of value found; it never holds an identifying value.
    """

    severity: str  # "error" or "warning"
    rule: str
    message: str
    file: str | None = None
    row: int | None = None
    field: str | None = None
    found: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts)

    def render(self) -> str:
        where = self.location()
        text = (
            f"{self.severity.upper()} [{self.rule}]{' ' + where if where else ''}: {self.message}"
        )
        if self.found:
            text += f" (found: {self.found})"
        return text


def counted(n: int, noun: str) -> str:
    """'1 error', '2 errors', '1,204 warnings': a count with its noun, singular for one."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
