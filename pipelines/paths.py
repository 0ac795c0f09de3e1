"""Where the project's data files live.

The package is installed in editable mode from the project root, so the governance data
(the standard, organisations, agreements) is found beside the `pipelines` package. Every
entry point also takes an explicit path, and OWF_GOVERNANCE overrides the default so a hub
can keep its registry outside the code checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def governance_dir() -> Path:
    return Path(os.environ.get("OWF_GOVERNANCE", PROJECT_ROOT / "governance"))


def standard_dir() -> Path:
    """The tool's own standard, whatever OWF_GOVERNANCE or --governance say: a registry
    folder holds organisations, agreements and policies, and the standard is the version
    this code was written and tested against. (Found in review: OWF_GOVERNANCE also swapped
    the standard for the registry folder's copy, or failed where it had none.)"""
    return PROJECT_ROOT / "governance" / "standard"


def owf_home() -> Path:
    """Working area for the demo and a local hub (inbox, warehouse, publications)."""
    return Path(os.environ.get("OWF_HOME", PROJECT_ROOT / "var"))
