"""Normalising local job titles before they are looked up in the job title map.

The same rule is implemented in SQL by the dbt macro `normalise_title` (dbt_project/macros);
a test holds the two to the same answers.
"""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_title(title: str | None) -> str | None:
    """Lower case, accents removed, every run of other characters one space, trimmed."""
    if title is None:
        return None
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = _NON_ALNUM.sub(" ", text).strip()
    return text or None
