"""dbt files generated from the standard: sources (raw tables) and seed properties (code lists).

The standard is the one source of truth for column names and code lists: these YAML files
are written by `owf models generate`, committed, and a test fails when they are out of date.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines.files import write_whole
from pipelines.paths import PROJECT_ROOT
from pipelines.standard import SUBMITTED, Standard, load_standard

DBT_DIR = PROJECT_ROOT / "dbt_project"
SOURCES = DBT_DIR / "models" / "staging" / "_sources.yml"
SEEDS = DBT_DIR / "models" / "_seeds.yml"
INTEGER_COLUMNS = {"sort_order", "min_age", "max_age"}
HEADER = "# Generated from governance/standard by `owf models generate`. Do not edit by hand.\n"

LINEAGE = [
    {"name": "submission_id", "description": "The submission (package id) the row came from."},
    {"name": "payload_row", "description": "Row of the submitted file (header = row 1)."},
    {"name": "key_epoch", "description": "Epoch of the system key used at source (stage 1)."},
    {"name": "hub_key_epoch", "description": "Epoch of the hub key used to re-key (stage 2)."},
]


def render_sources(std: Standard) -> str:
    tables = [
        {
            "name": "submissions",
            "description": "Every package received by the hub and its decision (accepted, superseded,"
            " quarantined, refused, released, discarded, purged).",
        }
    ]
    for name, extract in std.extracts.items():
        columns = list(LINEAGE)
        for f in extract.fields_in(SUBMITTED):
            columns.append(
                {
                    "name": f.name,
                    "description": f"{f.description} [{f.classification}]",
                    "meta": {"classification": f.classification, "type": f.type},
                }
            )
        tables.append(
            {
                "name": name,
                "description": f"{extract.title} (standard v{std.version}, submitted form): {extract.description}",
                "columns": columns,
            }
        )
    doc = {
        "version": 2,
        "sources": [
            {
                "name": "raw",
                "schema": "raw",
                "description": "Landed submissions: written by the hub's ingestion (pipelines/hub/ingest.py).",
                "tables": tables,
            },
            {
                "name": "governance",
                "schema": "governance",
                "description": "The hub's registry, copied into the warehouse at every ingestion run.",
                "tables": [
                    {
                        "name": "organisations",
                        "description": "Organisations of the system (ODS code, name, sector, kind).",
                    },
                    {
                        "name": "agreement_extracts",
                        "description": "Which organisation may share which extract under which agreement, and when.",
                    },
                    {
                        "name": "agreement_fields",
                        "description": "The fields each agreement lets each extract carry, one row per field.",
                    },
                ],
            },
        ],
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)


def render_seeds(std: Standard) -> str:
    seeds = []
    for name, cl in std.codelists.items():
        seeds.append(
            {
                "name": name,
                "description": cl.description,
                "config": {
                    "column_types": {
                        c: ("integer" if c in INTEGER_COLUMNS else "varchar") for c in cl.columns
                    }
                },
            }
        )
    return HEADER + yaml.safe_dump(
        {"version": 2, "seeds": seeds}, sort_keys=False, width=100, allow_unicode=True
    )


def expected_files(std: Standard | None = None) -> dict[Path, str]:
    std = std or load_standard()
    return {SOURCES: render_sources(std), SEEDS: render_seeds(std)}


def write_files() -> list[Path]:
    """Write the files that differ from the standard's, each whole (a dbt parse reading one
    meanwhile sees the old file or the new); returns those written."""
    written = []
    for path, text in expected_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            written.append(write_whole(path, text.encode("utf-8")))
    return written


def stale_files() -> list[Path]:
    return [
        p
        for p, text in expected_files().items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
