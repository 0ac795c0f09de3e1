"""Governance as data: organisations, information-sharing agreements and policies."""

from pipelines.governance.model import (
    Agreement,
    DisclosurePolicy,
    Governance,
    Organisation,
    Refusal,
    SigningKey,
    inspect_governance,
    load_governance,
    period_bounds,
)

__all__ = [
    "Agreement",
    "DisclosurePolicy",
    "Governance",
    "Organisation",
    "Refusal",
    "SigningKey",
    "inspect_governance",
    "load_governance",
    "period_bounds",
]
