"""Packages taken apart and put back together, as someone editing one by hand would (test
helper)."""

from __future__ import annotations

import struct

from pipelines.crypto.encryption import encrypt
from pipelines.crypto.signing import sign
from pipelines.submission.package import INFO_PREFIX, MAGIC, canonical_json, read_package


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


def signed_from_parts(
    manifest: dict, payload: bytes, signing_key, hub_public_key, magic: bytes = MAGIC
) -> bytes:
    """A package put together from exactly these parts, encrypted and signed properly: what
    a faulty (or another version of the) submission tool would send. Nothing is filled in."""
    manifest_bytes = canonical_json(manifest)
    ciphertext = encrypt(payload, hub_public_key, INFO_PREFIX + manifest_bytes)
    body = (
        magic
        + struct.pack(">I", len(manifest_bytes))
        + manifest_bytes
        + struct.pack(">Q", len(ciphertext))
        + ciphertext
    )
    signature = sign(signing_key, body)
    return body + struct.pack(">H", len(signature)) + signature
