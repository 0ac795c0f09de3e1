"""The common workforce data standard: model, code lists, validator and data dictionary."""

from pipelines.standard.model import (
    SOURCE,
    SUBMITTED,
    Codelist,
    Extract,
    Field,
    Rule,
    Standard,
    load_standard,
)

__all__ = [
    "SOURCE",
    "SUBMITTED",
    "Codelist",
    "Extract",
    "Field",
    "Rule",
    "Standard",
    "load_standard",
]
