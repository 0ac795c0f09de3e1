"""Packages taken apart and put back together, as someone editing one by hand would (test
helper)."""

from __future__ import annotations

import struct

from pipelines.submission.package import read_package


def with_manifest(package: bytes, manifest: bytes) -> bytes:
    """`package` with its manifest section replaced by `manifest`, the ciphertext and the
    signature kept as they were (so the signature no longer covers what the package says)."""
    raw = read_package(package)
    return (
        package[:8]
        + struct.pack(">I", len(manifest))
        + manifest
        + struct.pack(">Q", len(raw.ciphertext))
        + raw.ciphertext
        + struct.pack(">H", len(raw.signature))
        + raw.signature
    )
