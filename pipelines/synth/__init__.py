"""A synthetic health and care system: people who join, leave, move and change roles, and
the monthly extracts their organisations would hold. The project's embedded default and
test bed. Deterministic by seed."""

from pipelines.synth.generate import (
    SynthConfig,
    SynthResult,
    generate,
    national_month,
    sample_system,
    scaled,
)
from pipelines.synth.params import Params
from pipelines.synth.simulate import OrgSpec

__all__ = [
    "OrgSpec",
    "Params",
    "SynthConfig",
    "SynthResult",
    "generate",
    "national_month",
    "sample_system",
    "scaled",
]
