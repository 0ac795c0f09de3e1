"""Cryptography for One Workforce: thin wrappers over standard primitives, nothing home-made.

- identifiers: validate and normalise NI and NHS numbers before they are pseudonymised.
- pseudonymise: HMAC-SHA256 pseudonyms in two stages (organisation, then hub), HKDF-SHA256
  for organisation-scoped assignment keys.
- signing: Ed25519 signatures on packages.
- encryption: HPKE (RFC 9180) encryption of packages to the hub.
- keys: key files on disk, written 0600 and loaded with messages that say what to do.

Imports only the standard library, cryptography and pyarrow, so it works in the
organisation-side tool without Dagster or dbt installed.
"""

from __future__ import annotations

from pipelines.crypto.encryption import (
    DecryptionError,
    decrypt,
    encrypt,
    generate_encryption_key,
)
from pipelines.crypto.identifiers import (
    is_test_range_nhs_number,
    is_valid_nhs_number,
    is_valid_ni,
    nhs_check_digit,
    normalise_ni,
)
from pipelines.crypto.keys import (
    HUB_KEY,
    SYSTEM_KEY,
    KeyFilePermissionWarning,
    SymmetricKey,
    generate_symmetric_key,
    load_encryption_private_key,
    load_encryption_public_key,
    load_signing_private_key,
    load_signing_public_key,
    load_symmetric_key,
    write_private_key,
    write_public_key,
    write_symmetric_key,
)
from pipelines.crypto.pseudonymise import (
    assignment_key,
    assignment_pseudonym,
    person_pseudonym,
    person_pseudonym_column,
    pseudonymise,
    pseudonymise_column,
    rekey,
    rekey_column,
)
from pipelines.crypto.signing import (
    SignatureError,
    generate_signing_key,
    key_fingerprint,
    public_key_b64,
    public_key_from_b64,
    sign,
    verify,
)

__all__ = [
    "HUB_KEY",
    "SYSTEM_KEY",
    "DecryptionError",
    "KeyFilePermissionWarning",
    "SignatureError",
    "SymmetricKey",
    "assignment_key",
    "assignment_pseudonym",
    "decrypt",
    "encrypt",
    "generate_encryption_key",
    "generate_signing_key",
    "generate_symmetric_key",
    "is_test_range_nhs_number",
    "is_valid_nhs_number",
    "is_valid_ni",
    "key_fingerprint",
    "load_encryption_private_key",
    "load_encryption_public_key",
    "load_signing_private_key",
    "load_signing_public_key",
    "load_symmetric_key",
    "nhs_check_digit",
    "normalise_ni",
    "person_pseudonym",
    "person_pseudonym_column",
    "pseudonymise",
    "pseudonymise_column",
    "public_key_b64",
    "public_key_from_b64",
    "rekey",
    "rekey_column",
    "sign",
    "verify",
    "write_private_key",
    "write_public_key",
    "write_symmetric_key",
]
