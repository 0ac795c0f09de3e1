"""Keyed pseudonymisation of identifiers, in two stages.

Stage 1, at the organisation: a person's normalised NI number becomes
HMAC-SHA256(K_system, number), 64 lower-case hex characters. K_system is shared by every
organisation in the system, so the same person gets the same stage-1 pseudonym wherever they
work, which is what lets the hub follow a person between organisations. The raw number never
leaves the organisation.

Assignment numbers are only meaningful inside one organisation, so they are pseudonymised
under a key derived for that organisation (HKDF-SHA256 of K_system, info naming the
organisation): the same local number at two organisations gives unrelated pseudonyms.

Stage 2, at the hub: each stage-1 pseudonym is re-keyed, HMAC-SHA256(K_hub, token). K_hub
never leaves the hub, so holders of K_system (every organisation) cannot recompute the
pseudonyms stored in the warehouse from an NI number.

Keys are 32 random bytes (see pipelines.crypto.keys). Functions that take a key refuse keys
shorter than 32 bytes: NI numbers are few enough to enumerate, so a weak key would make the
pseudonyms reversible.
"""

from __future__ import annotations

import array
import re
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pipelines.crypto.identifiers import normalise_ni
from pipelines.errors import OwfError

MIN_KEY_BYTES = 32
HEX_DIGEST_CHARS = 64  # HMAC-SHA256 as lower-case hex
# One Arrow string array holds at most 2**31 - 1 bytes, 33 million digests; more (not seen in
# practice) come back as a chunked array.
_DIGESTS_PER_ARRAY = (2**31 - 1) // HEX_DIGEST_CHARS
ASSIGNMENT_KEY_INFO_PREFIX = b"one-workforce/assignment-key/v1/"
# ODS code format, as in governance/schemas/organisations.schema.json.
ODS_CODE = re.compile(r"[A-Z0-9]{3,6}")
_TOKEN = re.compile(r"[0-9a-f]{64}")
_TOKEN_PATTERN = "^[0-9a-f]{64}$"
# A value normalise_ni leaves unchanged: no whitespace, nothing to upper-case.
_ALREADY_NORMALISED = "^[A-Z0-9]*$"


# A system key's check value: HMAC-SHA256 under the key of this fixed text, its first 16 hex
# digits. Written in every package's manifest and registered (organisations.yaml, system:
# system_keys), so that a package pseudonymised under another key than the system's - a key
# an organisation generated itself, an old copy - is refused instead of landing people who
# can never be linked with anyone else's. A keyed hash of a constant says nothing about the
# key (HMAC is a pseudorandom function); 64 bits tell two keys apart without doubt.
SYSTEM_KEY_CHECK_INFO = b"one-workforce/system-key-check/v1"
SYSTEM_KEY_CHECK_CHARS = 16


def system_key_check(system_key: bytes) -> str:
    """The check value of a system pseudonymisation key (see SYSTEM_KEY_CHECK_INFO)."""
    _check_key(system_key)
    return _hmac_sha256(system_key, SYSTEM_KEY_CHECK_INFO).hex()[:SYSTEM_KEY_CHECK_CHARS]


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray):
        raise TypeError("a pseudonymisation key must be bytes")
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"a pseudonymisation key must be at least {MIN_KEY_BYTES} random bytes;"
            f" this one is {len(key)}"
        )


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104 / FIPS 198-1) from the cryptography library, nothing added."""
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def _hmac_sha256_hex_array(key: bytes, values: list[bytes]) -> pa.Array | pa.ChunkedArray:
    """HMAC-SHA256 hex of many values under one key, as an Arrow string array.

    The keyed HMAC state is set up once and copied per value, which skips re-deriving the
    inner and outer padded keys for every value: about twice as fast as a fresh HMAC each
    time, and the result is the same HMAC. Every digest is 64 hex characters, so the array is
    built straight from one buffer of the joined digests and fixed offsets: no per-value
    Python string, and no Python-to-Arrow conversion (which makes pyarrow import pandas,
    about 0.2 s of a cold `owf submit prepare`).
    """
    copy = crypto_hmac.HMAC(key, hashes.SHA256()).copy
    digests: list[bytes] = []
    append = digests.append
    for value in values:
        mac = copy()
        mac.update(value)
        append(mac.finalize())
    per_chunk = _DIGESTS_PER_ARRAY
    chunks = [
        _fixed_width_strings(digests[i : i + per_chunk])
        for i in range(0, max(len(digests), 1), per_chunk)
    ]
    return chunks[0] if len(chunks) == 1 else pa.chunked_array(chunks, pa.string())


def _fixed_width_strings(digests: list[bytes]) -> pa.Array:
    data = b"".join(digests).hex().encode("ascii")
    offsets = array.array("i", range(0, HEX_DIGEST_CHARS * (len(digests) + 1), HEX_DIGEST_CHARS))
    return pa.Array.from_buffers(
        pa.string(), len(digests), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _hkdf_sha256(ikm: bytes, salt: bytes | None, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) from the cryptography library."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def pseudonymise(key: bytes, value: str) -> str:
    """HMAC-SHA256(key, value as UTF-8) as 64 lower-case hex characters.

    `value` is used exactly as given; normalise it first (or use `person_pseudonym`), since
    two spellings of one identifier give unrelated pseudonyms.
    """
    _check_key(key)
    return _hmac_sha256(key, value.encode("utf-8")).hex()


def person_pseudonym(system_key: bytes, ni_number: str) -> str:
    """Stage-1 pseudonym of a person: their NI number, normalised, under K_system.

    Does not validate the number (the standard's validator does, before pseudonymising):
    it only normalises, so every spelling of one number gives one pseudonym.
    """
    return pseudonymise(system_key, normalise_ni(ni_number))


def require_ods_code(org_code: object) -> str:
    """`org_code` if it has the shape of an ODS code, else a clear OwfError. Checked before
    a code names a key or a file, so "../x" can never point outside its folder."""
    if not isinstance(org_code, str) or ODS_CODE.fullmatch(org_code) is None:
        raise OwfError(
            f"organisation code {org_code!r} is not an ODS code (3 to 6 upper-case letters and"
            " digits, e.g. RW1); use the code registered in governance/organisations.yaml."
        )
    return org_code


def assignment_key(system_key: bytes, org_code: str) -> bytes:
    """The organisation's own 32-byte key for assignment numbers, derived from K_system.

    HKDF-SHA256 with no salt and info "one-workforce/assignment-key/v1/<ODS code>". Deriving
    it means there is no extra key to distribute, while pseudonyms of assignment numbers
    cannot be linked between organisations.
    """
    _check_key(system_key)
    require_ods_code(org_code)
    info = ASSIGNMENT_KEY_INFO_PREFIX + org_code.encode("ascii")
    return _hkdf_sha256(system_key, None, info, 32)


def assignment_pseudonym(system_key: bytes, org_code: str, assignment_id: str) -> str:
    """Pseudonym of an organisation's assignment number, under that organisation's key."""
    return pseudonymise(assignment_key(system_key, org_code), assignment_id)


def rekey(hub_key: bytes, stage1_token: str) -> str:
    """Stage-2 pseudonym: HMAC-SHA256(K_hub, the 64-character stage-1 token as ASCII).

    Refuses anything that is not a stage-1 token, so a raw identifier that slipped through
    is not silently stored under a pseudonym-shaped value.
    """
    _check_key(hub_key)
    if not isinstance(stage1_token, str) or _TOKEN.fullmatch(stage1_token) is None:
        raise OwfError(
            "a value to re-key is not a stage-1 pseudonym (64 lower-case hexadecimal"
            " characters); the package was not made by `owf submit prepare`."
        )
    return _hmac_sha256(hub_key, stage1_token.encode("ascii")).hex()


def _as_string_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        raise TypeError(f"expected a string column, got {values.type}")
    return values


def _map_distinct(
    values: pa.Array, fn: Callable[[pa.Array], pa.Array | pa.ChunkedArray]
) -> pa.Array | pa.ChunkedArray:
    """Apply `fn` (distinct non-null values -> one string each, in order) once per distinct
    value.

    Identifier columns repeat (a person has several assignments, absences, months), so
    hashing each distinct value once and gathering the results back is much faster than
    hashing every row, and costs little when every value is distinct. Nulls stay null: the
    dictionary holds no null, and a null index takes a null.
    """
    encoded = values.dictionary_encode()
    return fn(encoded.dictionary).take(encoded.indices)


def pseudonymise_column(key: bytes, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`pseudonymise` applied to every value of a string column; nulls stay null.

    Values are used exactly as given, as in `pseudonymise`. Returns a string array.
    """
    _check_key(key)
    array = _as_string_array(values)
    return _map_distinct(
        array, lambda distinct: _hmac_sha256_hex_array(key, distinct.cast(pa.binary()).to_pylist())
    )


def person_pseudonym_column(system_key: bytes, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`person_pseudonym` applied to every value of a column of NI numbers; nulls stay null.

    Normalises with the same Python function as the scalar form, so the two always agree.
    """
    _check_key(system_key)
    array = _as_string_array(values)

    def _normalised_hmac(distinct: pa.Array) -> pa.Array | pa.ChunkedArray:
        raw = distinct.cast(pa.binary()).to_pylist()
        # Values of only A-Z and 0-9 are already normalised: skip Python for those.
        plain = pc.match_substring_regex(distinct, _ALREADY_NORMALISED)
        if not pc.all(plain).as_py():
            raw = [
                v if is_plain else normalise_ni(v.decode("utf-8")).encode("utf-8")
                for v, is_plain in zip(raw, plain.to_pylist(), strict=True)
            ]
        return _hmac_sha256_hex_array(system_key, raw)

    return _map_distinct(array, _normalised_hmac)


def rekey_column(hub_key: bytes, tokens: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`rekey` applied to every value of a column of stage-1 tokens; nulls stay null."""
    _check_key(hub_key)
    array = _as_string_array(tokens)
    well_formed = pc.match_substring_regex(array, _TOKEN_PATTERN)
    bad = pc.sum(pc.invert(well_formed)).as_py() or 0
    if bad:
        raise OwfError(
            f"{bad} value(s) to re-key are not stage-1 pseudonyms (64 lower-case hexadecimal"
            " characters); the package was not made by `owf submit prepare`."
        )
    return pseudonymise_column(hub_key, array)
