"""Ed25519 signatures on submission packages.

An organisation signs each package with its private key; the hub verifies it with the public
key registered for that organisation in governance/organisations.yaml, so a package cannot
be forged or altered on the way. Public keys travel as base64 of the 32 raw bytes, the form
the registry stores (44 characters ending in "=").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from pipelines.errors import OwfError

# The registry's pattern for a public key: base64 of 32 bytes.
PUBLIC_KEY_B64_PATTERN = "^[A-Za-z0-9+/]{43}=$"
_PUBLIC_KEY_B64 = re.compile(PUBLIC_KEY_B64_PATTERN)


class SignatureError(OwfError):
    """A signature does not verify: the data was altered, or signed with another key."""


def generate_signing_key() -> Ed25519PrivateKey:
    """A new Ed25519 private key, from the operating system's random source."""
    return Ed25519PrivateKey.generate()


def sign(private_key: Ed25519PrivateKey, data: bytes) -> bytes:
    """The 64-byte Ed25519 signature of `data`."""
    return private_key.sign(data)


def verify(
    public_key: Ed25519PublicKey, signature: bytes, data: bytes, *, what: str = "the package"
) -> None:
    """Return if `signature` is `public_key`'s signature of `data`; raise SignatureError if not.

    `what` names the signed thing (e.g. the package's file name) in the error message.
    """
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        raise SignatureError(
            f"the signature of {what} does not verify with public key"
            f" {key_fingerprint(public_key)}: {what} was altered after it was signed, or it was"
            " signed with a different key. Ask the sender to check that the key registered in"
            " governance/organisations.yaml is theirs and to submit the package again."
        ) from None


def public_key_b64(public_key: Ed25519PublicKey | X25519PublicKey) -> str:
    """Base64 of the 32 raw bytes of a public key, the form the registry stores."""
    return base64.b64encode(public_key.public_bytes_raw()).decode("ascii")


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """The Ed25519 public key whose raw bytes `text` holds in base64 (as `public_key_b64`)."""
    text = text.strip() if isinstance(text, str) else text
    if not isinstance(text, str) or _PUBLIC_KEY_B64.fullmatch(text) is None:
        raise OwfError(
            "a public key is not base64 of an Ed25519 public key (44 characters ending in '=');"
            " export it again with `owf keys export-public` and copy the whole line."
        )
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise OwfError(
            "a public key is not valid base64; export it again with `owf keys export-public`."
        ) from None
    return Ed25519PublicKey.from_public_bytes(raw)


def key_fingerprint(public_key: Ed25519PublicKey | X25519PublicKey) -> str:
    """First 16 hex characters of SHA-256 of the raw public key: short enough to read out
    over the phone when checking that a registered key is the right one."""
    return hashlib.sha256(public_key.public_bytes_raw()).hexdigest()[:16]
