"""PyYAML's safe loader, through libyaml where PyYAML was built with it (its wheels are).

The same documents and marks as the pure-Python `yaml.SafeLoader`, about ten times faster;
the standard, governance and profile files are read on every `owf submit`, in a fresh
process, so this is most of the submission's "governance" stage.
"""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader


def compose_and_load(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (which carries line numbers) and its data, from one parse."""
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()
