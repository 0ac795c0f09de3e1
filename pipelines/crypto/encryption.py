"""Encryption of submission packages to the hub: HPKE (RFC 9180), base mode.

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, as implemented by the
cryptography library. Only the hub's private key can open a package, and the AEAD tag means
any alteration is detected. The `info` argument binds the ciphertext to its context (for
example the package's organisation and period): decrypting with a different `info` fails,
so a package cannot be passed off as another.

The ciphertext is HPKE's encapsulated key (32 bytes) followed by the AEAD ciphertext and its
16-byte tag, so it is 48 bytes longer than the plaintext.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from pipelines.errors import OwfError

SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
OVERHEAD_BYTES = 32 + 16


class DecryptionError(OwfError):
    """A package cannot be decrypted: wrong hub key, different context, or altered."""


def generate_encryption_key() -> X25519PrivateKey:
    """A new X25519 private key for the hub, from the operating system's random source."""
    return X25519PrivateKey.generate()


def encrypt(plaintext: bytes, recipient_public_key: X25519PublicKey, info: bytes) -> bytes:
    """Encrypt `plaintext` so that only the holder of the matching private key can read it."""
    return SUITE.encrypt(plaintext, recipient_public_key, info=info)


def decrypt(
    ciphertext: bytes, private_key: X25519PrivateKey, info: bytes, *, what: str = "the package"
) -> bytes:
    """The plaintext of `ciphertext`; raises DecryptionError if it cannot be authenticated.

    The library reports every failure (wrong key, different `info`, any altered or missing
    byte) as InvalidTag, on purpose without saying which; so does this message. `what` names
    the encrypted thing (e.g. the package's file name) in it.
    """
    try:
        return SUITE.decrypt(ciphertext, private_key, info=info)
    except InvalidTag:
        raise DecryptionError(
            f"{what} cannot be decrypted with this hub key: it was encrypted for a different"
            " hub key, or it was altered. Check that the sender used the hub's current public"
            " key, and ask them to submit it again."
        ) from None
