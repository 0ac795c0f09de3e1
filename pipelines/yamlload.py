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


def compose(text: str) -> yaml.Node | None:
    """The document's node tree, which carries line numbers."""
    loader = SafeLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def construct(node: yaml.Node | None) -> Any:
    """The data of a node tree from `compose`."""
    if node is None:
        return None
    loader = SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()
