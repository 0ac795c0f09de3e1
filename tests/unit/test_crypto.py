"""pipelines.crypto: known answers from the RFCs, then the behaviour the pipeline relies on.

Known-answer tests prove each primitive is wired right (the right hash, key and input
order): HMAC-SHA256 from RFC 4231, HKDF-SHA256 from RFC 5869, Ed25519 from RFC 8032 and
X25519 from RFC 7748. Pinned pseudonyms are cross-checked against the standard library's
hmac, an implementation independent of the cryptography library the code uses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import stat
import subprocess
import sys
import warnings

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from pipelines.crypto import (
    HUB_KEY,
    SYSTEM_KEY,
    DecryptionError,
    KeyFilePermissionWarning,
    SignatureError,
    SymmetricKey,
    assignment_key,
    assignment_pseudonym,
    decrypt,
    encrypt,
    generate_encryption_key,
    generate_signing_key,
    generate_symmetric_key,
    key_fingerprint,
    load_encryption_private_key,
    load_encryption_public_key,
    load_signing_private_key,
    load_signing_public_key,
    load_symmetric_key,
    person_pseudonym,
    person_pseudonym_column,
    pseudonymise,
    pseudonymise_column,
    public_key_b64,
    public_key_from_b64,
    rekey,
    rekey_column,
    sign,
    verify,
    write_private_key,
    write_public_key,
    write_symmetric_key,
)
from pipelines.crypto.pseudonymise import _hkdf_sha256, _hmac_sha256, _hmac_sha256_hex_array
from pipelines.errors import OwfError

K_SYSTEM = bytes(range(32))
K_HUB = bytes(range(32, 64))

# --- known answers -------------------------------------------------------------------------

# RFC 4231 section 4: (key, data, HMAC-SHA-256). Test case 5's output is truncated to 128 bits.
RFC4231 = {
    1: (
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    2: (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    3: (
        b"\xaa" * 20,
        b"\xdd" * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    4: (
        bytes(range(0x01, 0x1A)),
        b"\xcd" * 50,
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    5: (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    6: (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    7: (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
}


@pytest.mark.parametrize("case", sorted(RFC4231))
def test_hmac_sha256_matches_rfc4231(case):
    key, data, expected = RFC4231[case]
    assert _hmac_sha256(key, data).hex()[: len(expected)] == expected
    assert _hmac_sha256_hex_array(key, [data])[0].as_py()[: len(expected)] == expected


def test_hmac_hex_array_is_each_value_s_hmac_in_order_whole_or_chunked(monkeypatch):
    """The bulk form builds its string array from one buffer of joined digests: every value
    must come back as its own HMAC, in order, also when split into several arrays."""
    import sys

    import pyarrow as pa

    ps = sys.modules[_hmac_sha256_hex_array.__module__]  # the package exports a same-named function
    key = bytes(range(32))
    values = [b"", b"AB123456C", "caf\u00e9".encode(), b"x" * 200, b"AB123456C"]
    expected = [_hmac_sha256(key, v).hex() for v in values]
    whole = _hmac_sha256_hex_array(key, values)
    assert whole.type == pa.string() and whole.to_pylist() == expected
    whole.validate(full=True)
    monkeypatch.setattr(ps, "_DIGESTS_PER_ARRAY", 2)
    chunked = _hmac_sha256_hex_array(key, values)
    assert chunked.num_chunks == 3 and chunked.to_pylist() == expected
    assert _hmac_sha256_hex_array(key, []).to_pylist() == []


def test_system_key_check_is_a_keyed_hash_of_a_fixed_text():
    """Known answers (from Python's own hmac module): the first 16 hex digits of
    HMAC-SHA256(key, "one-workforce/system-key-check/v1"); different keys, different checks."""
    from pipelines.crypto.pseudonymise import system_key_check

    assert system_key_check(bytes(range(32))) == "231e7fc42d5453db"
    assert system_key_check(b"\xff" * 32) == "953361d1a223cf11"
    with pytest.raises(ValueError, match="at least 32"):
        system_key_check(b"short")


def test_hmac_sha256_rfc4231_case_4_key_is_bytes_1_to_25():
    assert RFC4231[4][0].hex() == "0102030405060708090a0b0c0d0e0f10111213141516171819"


@pytest.mark.parametrize("case", [6, 7])
def test_pseudonymise_matches_rfc4231_through_public_api(case):
    # Cases 6 and 7 have a 131-byte key and text data, so they fit the public functions.
    key, data, expected = RFC4231[case]
    assert pseudonymise(key, data.decode("ascii")) == expected
    column = pseudonymise_column(key, pa.array([data.decode("ascii"), None]))
    assert column.to_pylist() == [expected, None]


def test_hkdf_sha256_matches_rfc5869_case_1():
    okm = _hkdf_sha256(b"\x0b" * 22, bytes(range(0x0D)), bytes(range(0xF0, 0xFA)), 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_hkdf_sha256_matches_rfc5869_case_3_without_salt():
    # Case 3 has an empty salt and info; no salt (as assignment_key uses) is the same thing.
    expected = (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )
    assert _hkdf_sha256(b"\x0b" * 22, None, b"", 42).hex() == expected
    assert _hkdf_sha256(b"\x0b" * 22, b"", b"", 42).hex() == expected


def _stdlib_hkdf_sha256(ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 with the standard library's hmac: an independent cross-check, test-only."""
    prk = hmac.new(b"\x00" * 32, ikm, "sha256").digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), "sha256").digest()
        okm += block
        counter += 1
    return okm[:length]


def test_stdlib_hkdf_cross_check_itself_matches_rfc5869_case_3():
    assert _stdlib_hkdf_sha256(b"\x0b" * 22, b"", 42).hex().startswith("8da4e775a563c18f")


def test_ed25519_matches_rfc8032_test_1():
    private = Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    public = private.public_key()
    assert public.public_bytes_raw().hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    signature = sign(private, b"")
    assert signature.hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    verify(public, signature, b"")


def test_x25519_public_key_matches_rfc7748_section_6_1():
    private = X25519PrivateKey.from_private_bytes(
        bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    )
    assert private.public_key().public_bytes_raw().hex() == (
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    )


# --- pseudonymisation ----------------------------------------------------------------------


def test_person_pseudonym_is_hmac_sha256_of_normalised_ni_in_lower_hex():
    expected = hmac.new(K_SYSTEM, b"AB123456C", hashlib.sha256).hexdigest()
    assert person_pseudonym(K_SYSTEM, "AB123456C") == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


def test_person_pseudonym_same_for_spellings_of_one_number():
    assert person_pseudonym(K_SYSTEM, "ab 12 34 56 c") == person_pseudonym(K_SYSTEM, "AB123456C")


def test_person_pseudonym_stable_across_calls_and_organisations():
    # Stage 1 takes no organisation: RW1 and RW2 compute the same pseudonym for one person.
    at_rw1 = person_pseudonym(K_SYSTEM, "CE654321A")
    at_rw2 = person_pseudonym(bytes(K_SYSTEM), "CE654321A")
    assert at_rw1 == at_rw2 == person_pseudonym(K_SYSTEM, "CE654321A")


def test_person_pseudonym_differs_under_different_key():
    other = bytes(reversed(K_SYSTEM))
    assert person_pseudonym(K_SYSTEM, "AB123456C") != person_pseudonym(other, "AB123456C")


def test_person_pseudonym_differs_between_people():
    assert person_pseudonym(K_SYSTEM, "AB123456C") != person_pseudonym(K_SYSTEM, "AB123456D")


def test_pseudonymise_uses_value_exactly_as_given():
    assert pseudonymise(K_SYSTEM, "ab123456c") != pseudonymise(K_SYSTEM, "AB123456C")


def test_pseudonymise_encodes_non_ascii_as_utf8():
    expected = hmac.new(K_SYSTEM, "Zoë".encode(), hashlib.sha256).hexdigest()
    assert pseudonymise(K_SYSTEM, "Zoë") == expected


@pytest.mark.parametrize("key", [b"", b"short", bytes(31)])
def test_pseudonymise_refuses_key_shorter_than_32_bytes(key):
    with pytest.raises(ValueError, match="at least 32"):
        pseudonymise(key, "AB123456C")


def test_pseudonymise_refuses_key_that_is_not_bytes():
    with pytest.raises(TypeError):
        pseudonymise("k" * 32, "AB123456C")  # type: ignore[arg-type]


def test_assignment_key_is_hkdf_sha256_with_org_in_info():
    expected = _stdlib_hkdf_sha256(K_SYSTEM, b"one-workforce/assignment-key/v1/RW1", 32)
    key = assignment_key(K_SYSTEM, "RW1")
    assert key == expected
    assert len(key) == 32


def test_assignment_pseudonym_is_hmac_under_assignment_key():
    expected = hmac.new(assignment_key(K_SYSTEM, "RW1"), b"1000-1", "sha256").hexdigest()
    assert assignment_pseudonym(K_SYSTEM, "RW1", "1000-1") == expected


def test_assignment_pseudonym_differs_between_organisations_for_same_number():
    at_rw1 = assignment_pseudonym(K_SYSTEM, "RW1", "1000-1")
    at_rw2 = assignment_pseudonym(K_SYSTEM, "RW2", "1000-1")
    assert at_rw1 != at_rw2
    assert assignment_key(K_SYSTEM, "RW1") != assignment_key(K_SYSTEM, "RW2")


def test_assignment_pseudonym_differs_from_person_pseudonym_of_same_text():
    assert assignment_pseudonym(K_SYSTEM, "RW1", "AB123456C") != pseudonymise(K_SYSTEM, "AB123456C")


@pytest.mark.parametrize("org", ["rw1", "RW", "RW1234X", "RW 1", "", "RWÉ"])
def test_assignment_key_refuses_org_code_that_is_not_ods(org):
    with pytest.raises(OwfError, match="not an ODS code"):
        assignment_key(K_SYSTEM, org)


def test_rekey_is_hmac_under_hub_key_of_the_hex_token():
    token = person_pseudonym(K_SYSTEM, "AB123456C")
    expected = hmac.new(K_HUB, token.encode("ascii"), hashlib.sha256).hexdigest()
    assert rekey(K_HUB, token) == expected
    assert rekey(K_HUB, token) != token


@pytest.mark.parametrize("value", ["AB123456C", "A" * 64, "0" * 63, "0" * 65, ""])
def test_rekey_refuses_value_that_is_not_a_stage1_token(value):
    with pytest.raises(OwfError, match="not a stage-1 pseudonym") as err:
        rekey(K_HUB, value)
    if value:
        assert value not in str(err.value)


def test_pseudonymise_column_equals_scalar_and_keeps_nulls():
    values = ["AB123456C", None, "CE654321A", "AB123456C", "", "Zoë", None]
    column = pseudonymise_column(K_SYSTEM, pa.array(values))
    assert column.type == pa.string()
    assert column.to_pylist() == [None if v is None else pseudonymise(K_SYSTEM, v) for v in values]


def test_pseudonymise_column_accepts_chunked_large_and_dictionary_strings():
    values = ["AB123456C", None, "CE654321A"]
    expected = [pseudonymise(K_SYSTEM, "AB123456C"), None, pseudonymise(K_SYSTEM, "CE654321A")]
    chunked = pa.chunked_array([pa.array(values[:1]), pa.array(values[1:])])
    assert pseudonymise_column(K_SYSTEM, chunked).to_pylist() == expected
    large = pa.array(values, type=pa.large_string())
    assert pseudonymise_column(K_SYSTEM, large).to_pylist() == expected
    dictionary = pa.array(values).dictionary_encode()
    assert pseudonymise_column(K_SYSTEM, dictionary).to_pylist() == expected


def test_pseudonymise_column_handles_empty_all_null_and_sliced_arrays():
    assert pseudonymise_column(K_SYSTEM, pa.array([], type=pa.string())).to_pylist() == []
    all_null = pa.array([None, None], type=pa.string())
    assert pseudonymise_column(K_SYSTEM, all_null).to_pylist() == [None, None]
    sliced = pa.array(["X", "AB123456C", None, "Y"]).slice(1, 2)
    assert pseudonymise_column(K_SYSTEM, sliced).to_pylist() == [
        pseudonymise(K_SYSTEM, "AB123456C"),
        None,
    ]


def test_pseudonymise_column_refuses_non_string_column():
    with pytest.raises(TypeError, match="string column"):
        pseudonymise_column(K_SYSTEM, pa.array([1, 2]))


@pytest.mark.parametrize(
    "values",
    [
        ["ab 12 34 56 c", "AB123456C", None, " ce654321a", "a\u017f123456c", "\u00e9"],
        ["AB123456C", None, "CE654321A"],  # all already normalised
    ],
)
def test_person_pseudonym_column_normalises_like_scalar(values):
    column = person_pseudonym_column(K_SYSTEM, pa.array(values))
    expected = [None if v is None else person_pseudonym(K_SYSTEM, v) for v in values]
    assert column.to_pylist() == expected
    assert expected[0] == person_pseudonym(K_SYSTEM, "AB123456C")


def test_rekey_column_equals_scalar_and_keeps_nulls():
    tokens = [
        person_pseudonym(K_SYSTEM, "AB123456C"),
        None,
        person_pseudonym(K_SYSTEM, "CE654321A"),
    ]
    column = rekey_column(K_HUB, pa.array(tokens))
    assert column.to_pylist() == [None if t is None else rekey(K_HUB, t) for t in tokens]


def test_rekey_column_refuses_raw_identifiers_and_counts_them():
    tokens = pa.array([person_pseudonym(K_SYSTEM, "AB123456C"), "AB123456C", "CE654321A"])
    with pytest.raises(OwfError, match="^2 value") as err:
        rekey_column(K_HUB, tokens)
    assert "AB123456C" not in str(err.value)


def test_people_s_tokens_are_rekeyed_once_a_run_and_as_the_key_chain_would(monkeypatch):
    # The hub's ingestion re-keys each person once a run (pipelines.hub.ingest.PersonTokens):
    # a token seen for the organisation earlier in the run is taken from memory. What comes
    # out must be exactly what the key chain gives, nulls and order included.
    from pipelines.crypto import keys as kf
    from pipelines.hub.ingest import HubKeys, PersonTokens

    # The module itself: the package's `pseudonymise` is the function of that name.
    ps = sys.modules["pipelines.crypto.pseudonymise"]

    old, current = (kf.generate_symmetric_key(kf.HUB_KEY, e) for e in (1, 2))
    keys = HubKeys(encryption=None, pseudonymisation=current, chain=(old, current))
    a, b, c, d, e = (
        person_pseudonym(K_SYSTEM, n)
        for n in ("AB123456C", "CE654321A", "JG103759A", "HT654321D", "NP123456B")
    )
    hashed = []
    real = ps._hmac_sha256_hex_array
    monkeypatch.setattr(
        ps, "_hmac_sha256_hex_array", lambda k, v: hashed.append(len(v)) or real(k, v)
    )
    people = PersonTokens(keys)
    columns = [
        ("RW1", pa.chunked_array([[a, b, None], [a, c]])),  # staff in post
        ("RW1", pa.array([b, d, None, a, e, d])),  # sickness absence: d and e are new
        ("RW2", pa.array([a])),  # the same person at another organisation: hashed for it
        ("RW1", pa.array([], pa.string())),
    ]
    hashed_per_call = []
    for org, tokens in columns:
        hashed.clear()
        rekeyed = people.rekey(org, tokens).to_pylist()
        hashed_per_call.append(sum(hashed))
        assert rekeyed == keys.rekey(tokens).to_pylist()
    # Each new token once under each of the chain's two keys; known tokens not at all.
    assert hashed_per_call == [2 * 3, 2 * 2, 2 * 1, 0]

    # A malformed token is refused as keys.rekey refuses it, and nothing is remembered.
    with pytest.raises(OwfError, match="not stage-1 pseudonyms"):
        people.rekey("RW1", pa.array([a, "AB123456C"]))
    assert (
        people.rekey("RW1", pa.array([d, a])).to_pylist()
        == keys.rekey(pa.array([d, a])).to_pylist()
    )


def test_two_stages_link_a_person_across_organisations_only_through_the_hub():
    # RW1 and RW2 submit the same person; the hub's stage-2 pseudonyms match each other but
    # not what anyone holding only K_system can compute.
    stage1_rw1 = person_pseudonym(K_SYSTEM, "AB123456C")
    stage1_rw2 = person_pseudonym(K_SYSTEM, "ab 123456 c")
    assert rekey(K_HUB, stage1_rw1) == rekey(K_HUB, stage1_rw2)
    assert rekey(K_HUB, stage1_rw1) != stage1_rw1


# --- signing -------------------------------------------------------------------------------


def test_sign_and_verify_round_trip():
    key = generate_signing_key()
    signature = sign(key, b"package bytes")
    assert len(signature) == 64
    verify(key.public_key(), signature, b"package bytes")


def test_verify_fails_when_data_altered():
    key = generate_signing_key()
    signature = sign(key, b"package bytes")
    with pytest.raises(SignatureError, match="does not verify") as err:
        verify(key.public_key(), signature, b"package bytez", what="RW1-2026-09.owf")
    assert "RW1-2026-09.owf" in str(err.value)
    assert key_fingerprint(key.public_key()) in str(err.value)
    assert isinstance(err.value, OwfError)


@pytest.mark.parametrize("position", [0, 31, 63])
def test_verify_fails_when_signature_altered(position):
    key = generate_signing_key()
    signature = bytearray(sign(key, b"data"))
    signature[position] ^= 0x01
    with pytest.raises(SignatureError):
        verify(key.public_key(), bytes(signature), b"data")


@pytest.mark.parametrize("signature", [b"", b"\x00" * 63, b"\x00" * 64, b"\x00" * 65])
def test_verify_fails_on_malformed_signature(signature):
    with pytest.raises(SignatureError):
        verify(generate_signing_key().public_key(), signature, b"data")


def test_verify_fails_with_another_organisations_key():
    signature = sign(generate_signing_key(), b"data")
    with pytest.raises(SignatureError):
        verify(generate_signing_key().public_key(), signature, b"data")


def test_public_key_b64_matches_registry_pattern_and_round_trips():
    public = generate_signing_key().public_key()
    text = public_key_b64(public)
    assert re.fullmatch(r"[A-Za-z0-9+/]{43}=", text)
    assert public_key_from_b64(text).public_bytes_raw() == public.public_bytes_raw()
    assert public_key_from_b64(f" {text}\n").public_bytes_raw() == public.public_bytes_raw()


@pytest.mark.parametrize(
    "text",
    ["", "not a key", "A" * 43, "A" * 44, "A" * 42 + "==", base64.b64encode(bytes(31)).decode()],
)
def test_public_key_from_b64_refuses_malformed_text(text):
    with pytest.raises(OwfError, match="owf keys export-public"):
        public_key_from_b64(text)


def test_key_fingerprint_is_first_16_hex_of_sha256_of_raw_key():
    public = generate_signing_key().public_key()
    expected = hashlib.sha256(public.public_bytes_raw()).hexdigest()[:16]
    assert key_fingerprint(public) == expected
    assert key_fingerprint(generate_encryption_key().public_key()) != expected


# --- encryption ----------------------------------------------------------------------------

INFO = b"one-workforce/package/v1/RW1/2026-09"


def test_encrypt_decrypt_round_trip():
    key = generate_encryption_key()
    ciphertext = encrypt(b"extract bytes", key.public_key(), INFO)
    assert b"extract bytes" not in ciphertext
    assert len(ciphertext) == len(b"extract bytes") + 48
    assert decrypt(ciphertext, key, INFO) == b"extract bytes"


def test_encrypt_is_randomised():
    public = generate_encryption_key().public_key()
    assert encrypt(b"same", public, INFO) != encrypt(b"same", public, INFO)


def test_encrypt_decrypt_round_trip_empty_plaintext():
    key = generate_encryption_key()
    assert decrypt(encrypt(b"", key.public_key(), INFO), key, INFO) == b""


def test_encrypt_decrypt_round_trip_large_plaintext():
    key = generate_encryption_key()
    plaintext = os.urandom(1_000_000)
    assert decrypt(encrypt(plaintext, key.public_key(), INFO), key, INFO) == plaintext


def test_decrypt_fails_with_wrong_private_key():
    ciphertext = encrypt(b"extract", generate_encryption_key().public_key(), INFO)
    with pytest.raises(DecryptionError, match="different hub key, or it was altered") as err:
        decrypt(ciphertext, generate_encryption_key(), INFO, what="RW1-2026-09.owf")
    assert "RW1-2026-09.owf" in str(err.value)
    assert isinstance(err.value, OwfError)


@pytest.mark.parametrize("position", [0, 1, 31, 32, 33, 40, -17, -16, -2, -1])
def test_decrypt_fails_when_any_single_byte_flipped(position):
    key = generate_encryption_key()
    ciphertext = bytearray(encrypt(b"extract bytes", key.public_key(), INFO))
    ciphertext[position] ^= 0x80
    with pytest.raises(DecryptionError):
        decrypt(bytes(ciphertext), key, INFO)


@pytest.mark.parametrize("cut", [0, 1, 32, 47])
def test_decrypt_fails_when_truncated(cut):
    key = generate_encryption_key()
    ciphertext = encrypt(b"extract bytes", key.public_key(), INFO)
    with pytest.raises(DecryptionError):
        decrypt(ciphertext[:cut], key, INFO)


def test_decrypt_fails_when_bytes_appended():
    key = generate_encryption_key()
    ciphertext = encrypt(b"extract bytes", key.public_key(), INFO)
    with pytest.raises(DecryptionError):
        decrypt(ciphertext + b"\x00", key, INFO)


@pytest.mark.parametrize("info", [b"", b"one-workforce/package/v1/RW2/2026-09", INFO + b"\x00"])
def test_decrypt_fails_with_different_info(info):
    key = generate_encryption_key()
    ciphertext = encrypt(b"extract", key.public_key(), INFO)
    with pytest.raises(DecryptionError):
        decrypt(ciphertext, key, info)


# --- key files -----------------------------------------------------------------------------


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def no_umask():
    """Run with umask 0, so a mode that is right here is right whatever the user's umask."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_signing_private_key_round_trips_with_mode_0600(tmp_path, no_umask):
    key = generate_signing_key()
    path = write_private_key(tmp_path / "signing.pem", key)
    assert _mode(path) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_signing_private_key(path)
    assert loaded.private_bytes_raw() == key.private_bytes_raw()


def test_encryption_private_key_round_trips_with_mode_0600(tmp_path, no_umask):
    key = generate_encryption_key()
    path = write_private_key(tmp_path / "hub.pem", key)
    assert _mode(path) == 0o600
    assert load_encryption_private_key(path).private_bytes_raw() == key.private_bytes_raw()


def test_private_key_round_trips_with_passphrase(tmp_path):
    key = generate_signing_key()
    path = write_private_key(tmp_path / "signing.pem", key, passphrase=b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    loaded = load_signing_private_key(path, passphrase=b"correct horse")
    assert loaded.private_bytes_raw() == key.private_bytes_raw()


def test_load_private_key_without_passphrase_says_one_is_needed(tmp_path):
    path = write_private_key(tmp_path / "k.pem", generate_signing_key(), passphrase=b"pw")
    with pytest.raises(OwfError, match="protected by a passphrase"):
        load_signing_private_key(path)


def test_load_private_key_with_wrong_passphrase_says_so(tmp_path):
    path = write_private_key(tmp_path / "k.pem", generate_signing_key(), passphrase=b"pw")
    with pytest.raises(OwfError, match="passphrase is\\s+wrong"):
        load_signing_private_key(path, passphrase=b"not it")


def test_load_private_key_with_unneeded_passphrase_says_so(tmp_path):
    path = write_private_key(tmp_path / "k.pem", generate_signing_key())
    with pytest.raises(OwfError, match="not protected by a passphrase"):
        load_signing_private_key(path, passphrase=b"pw")


@pytest.mark.parametrize(
    "key,loader",
    [
        (Ed25519PrivateKey.generate().public_key(), load_signing_public_key),
        (X25519PrivateKey.generate().public_key(), load_encryption_public_key),
    ],
)
def test_public_key_round_trips_with_comment_line(tmp_path, no_umask, key, loader):
    path = write_public_key(tmp_path / "key.pub", key, "RW1-2026-01")
    algorithm = "ed25519" if isinstance(key, Ed25519PublicKey) else "x25519"
    lines = path.read_text().splitlines()
    assert lines == [f"# one-workforce {algorithm} public key RW1-2026-01", public_key_b64(key)]
    assert _mode(path) == 0o644
    assert loader(path).public_bytes_raw() == key.public_bytes_raw()


@pytest.mark.parametrize("key_id", ["", "RW1 2026", "RWÉ-1", "a\nb"])
def test_write_public_key_refuses_unusable_key_id(tmp_path, key_id):
    with pytest.raises(OwfError, match="key id"):
        write_public_key(tmp_path / "k.pub", generate_signing_key().public_key(), key_id)
    assert not (tmp_path / "k.pub").exists()


@pytest.mark.parametrize("kind", [SYSTEM_KEY, HUB_KEY])
def test_symmetric_key_round_trips_with_mode_0600(tmp_path, no_umask, kind):
    key = generate_symmetric_key(kind, epoch=3)
    assert len(key.key) == 32
    path = write_symmetric_key(tmp_path / "k.json", key)
    assert _mode(path) == 0o600
    assert load_symmetric_key(path, kind) == key


def test_symmetric_key_file_has_documented_fields(tmp_path):
    key = generate_symmetric_key(SYSTEM_KEY, epoch=1)
    document = json.loads(write_symmetric_key(tmp_path / "k.json", key).read_text())
    assert set(document) == {"kind", "epoch", "created", "key_b64"}
    assert document["kind"] == SYSTEM_KEY and document["epoch"] == 1
    assert base64.b64decode(document["key_b64"]) == key.key


def test_generated_symmetric_keys_differ():
    assert generate_symmetric_key(HUB_KEY, 1).key != generate_symmetric_key(HUB_KEY, 1).key


def test_symmetric_key_repr_hides_key_material():
    key = generate_symmetric_key(SYSTEM_KEY, 1)
    assert key.key.hex() not in repr(key)
    assert repr(key.key) not in repr(key)
    assert base64.b64encode(key.key).decode() not in repr(key)


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077, 0o277])
def test_private_key_mode_is_0600_whatever_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        path = write_private_key(tmp_path / "k.pem", generate_signing_key())
    finally:
        os.umask(previous)
    assert _mode(path) == 0o600


def test_write_creates_missing_parent_directories_with_mode_0700(tmp_path, no_umask):
    path = write_private_key(tmp_path / "a" / "b" / "k.pem", generate_signing_key())
    assert _mode(tmp_path / "a") == 0o700
    assert _mode(tmp_path / "a" / "b") == 0o700
    assert _mode(path) == 0o600


@pytest.mark.parametrize(
    "write",
    [
        lambda p, **kw: write_private_key(p, generate_signing_key(), **kw),
        lambda p, **kw: write_symmetric_key(p, generate_symmetric_key(HUB_KEY, 1), **kw),
        lambda p, **kw: write_public_key(p, generate_signing_key().public_key(), "K1", **kw),
    ],
)
def test_write_refuses_to_overwrite_existing_file(tmp_path, write):
    path = tmp_path / "key"
    path.write_bytes(b"precious")
    with pytest.raises(OwfError, match="already exists; refusing to overwrite") as err:
        write(path)
    assert str(path) in str(err.value)
    assert path.read_bytes() == b"precious"


def test_write_refuses_to_follow_symlink(tmp_path):
    target = tmp_path / "elsewhere"
    (tmp_path / "k.pem").symlink_to(target)
    with pytest.raises(OwfError, match="already exists"):
        write_private_key(tmp_path / "k.pem", generate_signing_key())
    assert not target.exists()


def test_write_with_overwrite_replaces_file_atomically_with_mode_0600(tmp_path, no_umask):
    path = tmp_path / "k.pem"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    key = generate_signing_key()
    write_private_key(path, key, overwrite=True)
    assert _mode(path) == 0o600
    assert load_signing_private_key(path).private_bytes_raw() == key.private_bytes_raw()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pem"]


def _fail_on_write(monkeypatch, call: int) -> None:
    """Make the `call`-th key file written fail as a full disk would (a true boundary: the
    operating system's write)."""
    from pipelines.crypto import keys as kf

    real, calls = kf._create_exclusive, []

    def create(path, data, mode):
        calls.append(path)
        if len(calls) == call:
            raise OSError(28, "No space left on device")
        real(path, data, mode)

    monkeypatch.setattr(kf, "_create_exclusive", create)


def _write_pair(folder, key, *, overwrite):
    from pipelines.crypto import keys as kf

    with kf.written_together():
        write_private_key(folder / "RW1-signing.key", key, overwrite=overwrite)
        write_public_key(folder / "RW1-signing.pub", key.public_key(), "RW1-1", overwrite=overwrite)


def test_a_pair_replaced_together_is_left_whole_when_its_second_half_fails(tmp_path, monkeypatch):
    """Left over from review: `owf keys generate --overwrite` replaced a pair's halves one at a
    time, so a failure between them left a new private key beside the old public key, which
    signs packages the hub cannot verify. Now neither half changes."""
    old = generate_signing_key()
    _write_pair(tmp_path, old, overwrite=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    _fail_on_write(monkeypatch, call=2)
    with pytest.raises(OwfError, match="No space left on device") as err:
        _write_pair(tmp_path, generate_signing_key(), overwrite=True)
    assert "RW1-signing.pub" in str(err.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    monkeypatch.undo()
    new = generate_signing_key()
    _write_pair(tmp_path, new, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RW1-signing.key", "RW1-signing.pub"]
    loaded = load_signing_private_key(tmp_path / "RW1-signing.key")
    assert loaded.private_bytes_raw() == new.private_bytes_raw()
    public = load_signing_public_key(tmp_path / "RW1-signing.pub")
    assert public.public_bytes_raw() == new.public_key().public_bytes_raw()


def test_a_new_pair_whose_second_half_fails_leaves_no_file(tmp_path, monkeypatch):
    _fail_on_write(monkeypatch, call=2)
    with pytest.raises(OwfError, match="No space left on device"):
        _write_pair(tmp_path, generate_signing_key(), overwrite=False)
    assert list(tmp_path.iterdir()) == []


def test_a_pair_is_not_written_over_a_file_that_appeared_while_it_was_written(tmp_path):
    from pipelines.crypto import keys as kf

    key = generate_signing_key()
    with pytest.raises(OwfError, match="already exists") as err:
        with kf.written_together():
            write_private_key(tmp_path / "RW1-signing.key", key)
            (tmp_path / "RW1-signing.key").write_bytes(b"someone else's")
            write_public_key(tmp_path / "RW1-signing.pub", key.public_key(), "RW1-1")
    assert "Nothing was written" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RW1-signing.key"]
    assert (tmp_path / "RW1-signing.key").read_bytes() == b"someone else's"


def test_write_fails_with_owf_error_when_parent_is_a_file(tmp_path):
    # Fails even for root, unlike a read-only directory.
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "sub" / "k.pem"
    with pytest.raises(OwfError, match="not a directory this user can write") as err:
        write_private_key(path, generate_signing_key())
    assert str(path) in str(err.value)
    with pytest.raises(OwfError, match="not a directory this user can write"):
        write_private_key(tmp_path / "file" / "k.pem", generate_signing_key())


def test_write_fails_with_owf_error_when_directory_not_writable(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions; the parent-is-a-file test covers this")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(OwfError, match="not a directory this user can write") as err:
            write_symmetric_key(locked / "k.json", generate_symmetric_key(SYSTEM_KEY, 1))
        assert str(locked / "k.json") in str(err.value)
    finally:
        locked.chmod(0o700)


def test_write_permission_denied_becomes_owf_error_naming_path(tmp_path, monkeypatch):
    # Simulates an unwritable directory even when the tests run as root.
    import pipelines.crypto.keys as keys_module

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(keys_module.os, "open", denied)
    path = tmp_path / "k.pem"
    with pytest.raises(OwfError, match="can write to \\(Permission denied\\)") as err:
        write_private_key(path, generate_signing_key())
    assert str(path) in str(err.value)
    assert not path.exists()


def test_write_fails_with_owf_error_when_path_is_directory(tmp_path):
    with pytest.raises(OwfError, match="is a directory"):
        write_private_key(tmp_path, generate_signing_key())


@pytest.mark.parametrize(
    "load",
    [
        load_signing_private_key,
        load_encryption_private_key,
        load_signing_public_key,
        load_encryption_public_key,
        lambda p: load_symmetric_key(p, SYSTEM_KEY),
        lambda p: load_symmetric_key(p, HUB_KEY),
    ],
)
def test_load_missing_file_says_what_to_do(tmp_path, load):
    path = tmp_path / "absent.key"
    with pytest.raises(OwfError, match="does not exist: ") as err:
        load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("load", "says"),
    [
        (load_encryption_public_key, "ask the hub operator for the hub's public key"),
        (lambda p: load_symmetric_key(p, SYSTEM_KEY), "ask the hub operator for the system"),
        (load_signing_private_key, "`owf keys generate signing --org ORG`"),
        (lambda p: load_symmetric_key(p, HUB_KEY), "restore the hub's keys folder"),
    ],
)
def test_a_missing_key_an_organisation_must_not_make_says_to_ask_the_hub(tmp_path, load, says):
    """Found in review: every missing key file said to generate one, which an organisation
    must never do for the hub's public key (the hub could not open its package) or the
    system key (its people would link with no other organisation's)."""
    with pytest.raises(OwfError) as err:
        load(tmp_path / "absent.key")
    assert says in str(err.value)
    if "ask the hub" in says:
        assert "never generate one yourself" in str(err.value)


def test_load_directory_says_it_is_a_directory(tmp_path):
    with pytest.raises(OwfError, match="is a directory"):
        load_signing_private_key(tmp_path)


@pytest.fixture
def key_files(tmp_path):
    """One file of each kind, to hand to the wrong loader."""
    return {
        "ed25519-private": write_private_key(tmp_path / "sign.pem", generate_signing_key()),
        "x25519-private": write_private_key(tmp_path / "hub.pem", generate_encryption_key()),
        "ed25519-public": write_public_key(
            tmp_path / "sign.pub", generate_signing_key().public_key(), "RW1-2026-01"
        ),
        "x25519-public": write_public_key(
            tmp_path / "hub.pub", generate_encryption_key().public_key(), "HUB-2026-01"
        ),
        SYSTEM_KEY: write_symmetric_key(
            tmp_path / "system.json", generate_symmetric_key(SYSTEM_KEY, 1)
        ),
        HUB_KEY: write_symmetric_key(tmp_path / "hub.json", generate_symmetric_key(HUB_KEY, 1)),
    }


@pytest.mark.parametrize(
    "given,load,message",
    [
        ("x25519-private", load_signing_private_key, "holds an X25519 hub encryption private"),
        ("ed25519-private", load_encryption_private_key, "holds an Ed25519 signing private"),
        ("ed25519-public", load_signing_private_key, "holds an Ed25519 signing public key"),
        ("x25519-public", load_encryption_private_key, "holds an X25519 hub encryption public"),
        (SYSTEM_KEY, load_signing_private_key, "holds the system pseudonymisation key"),
        ("x25519-public", load_signing_public_key, "holds an X25519 hub encryption public"),
        ("ed25519-public", load_encryption_public_key, "holds an Ed25519 signing public key"),
        ("ed25519-private", load_signing_public_key, "holds an Ed25519 signing private key"),
        (HUB_KEY, lambda p: load_symmetric_key(p, SYSTEM_KEY), "holds the hub pseudonymisation"),
        (SYSTEM_KEY, lambda p: load_symmetric_key(p, HUB_KEY), "holds the system pseudonymisat"),
        ("ed25519-private", lambda p: load_symmetric_key(p, HUB_KEY), "holds an Ed25519 signing"),
        ("x25519-public", lambda p: load_symmetric_key(p, SYSTEM_KEY), "holds an X25519 hub"),
    ],
)
def test_load_wrong_key_type_names_what_was_found(key_files, given, load, message):
    path = key_files[given]
    with pytest.raises(OwfError, match=message) as err:
        load(path)
    assert str(path) in str(err.value)
    assert "expected here" in str(err.value)


def test_load_wrong_type_message_never_contains_key_material(key_files):
    secret = json.loads(key_files[HUB_KEY].read_text())["key_b64"]
    with pytest.raises(OwfError) as err:
        load_symmetric_key(key_files[HUB_KEY], SYSTEM_KEY)
    assert secret not in str(err.value)


def test_load_signing_private_key_refuses_key_of_another_algorithm(tmp_path):
    path = tmp_path / "ec.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    with pytest.raises(OwfError, match="another algorithm, but an Ed25519 signing private"):
        load_signing_private_key(path)


def test_load_private_key_refuses_pem_public_key(tmp_path):
    path = tmp_path / "pub.pem"
    path.write_bytes(
        generate_signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(OwfError, match="holds a PEM public key"):
        load_signing_private_key(path)


def _pem_of_a_fresh_key() -> list[bytes]:
    """A PEM key generated now (no key is committed), as lines: header, body, footer."""
    return (
        generate_signing_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .splitlines(keepends=True)
    )


def _garbled(kind: str) -> bytes:
    header, body, footer = _pem_of_a_fresh_key()
    if kind == "body not base64":
        return header + b"not base64\n" + footer
    if kind == "truncated":  # the key's DER cut short, no footer
        return header + base64.b64encode(base64.b64decode(body)[:16]) + b"\n"
    return {"empty": b"", "text": b"hello\n", "binary": b"\x00\xff" * 20}[kind]


@pytest.mark.parametrize("kind", ["empty", "text", "binary", "body not base64", "truncated"])
def test_load_private_key_refuses_garbled_content(tmp_path, kind):
    content = _garbled(kind)
    path = tmp_path / "k.pem"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(OwfError, match="damaged or not a key file") as err:
        load_signing_private_key(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "# one-workforce ed25519 public key K1\n",
        "# one-workforce ed25519 public key K1\nnot base64!\n",
        "# one-workforce ed25519 public key K1\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "# one-workforce ed25519 public key K1\nAAAA\nBBBB\n",
        base64.b64encode(bytes(32)).decode() + "\n",  # no header: the algorithm is unknown
    ],
)
def test_load_public_key_refuses_garbled_content(tmp_path, content):
    path = tmp_path / "k.pub"
    path.write_text(content)
    with pytest.raises(OwfError, match="damaged or not a key file"):
        load_signing_public_key(path)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        "[]",
        '{"kind": "system-pseudonymisation-key", "epoch": 1}',
        '{"kind": "system-pseudonymisation-key", "epoch": 1, "key_b64": "AAAA"}',
        '{"kind": "system-pseudonymisation-key", "epoch": -1, "key_b64": "'
        + base64.b64encode(bytes(32)).decode()
        + '"}',
        '{"kind": "system-pseudonymisation-key", "epoch": true, "key_b64": "'
        + base64.b64encode(bytes(32)).decode()
        + '"}',
        '{"kind": "system-pseudonymisation-key", "epoch": 1, "created": "yesterday", "key_b64": "'
        + base64.b64encode(bytes(32)).decode()
        + '"}',
        '{"kind": "some-other-key", "epoch": 1, "key_b64": "'
        + base64.b64encode(bytes(32)).decode()
        + '"}',
    ],
)
def test_load_symmetric_key_refuses_garbled_content(tmp_path, content):
    path = tmp_path / "k.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(OwfError, match="damaged or not a key file"):
        load_symmetric_key(path, SYSTEM_KEY)


def test_load_symmetric_key_accepts_file_without_created_date(tmp_path):
    path = tmp_path / "k.json"
    path.write_text(
        '{"kind": "hub-pseudonymisation-key", "epoch": 2, "key_b64": "'
        + base64.b64encode(K_HUB).decode()
        + '"}'
    )
    path.chmod(0o600)
    assert load_symmetric_key(path, HUB_KEY) == SymmetricKey(HUB_KEY, 2, K_HUB, None)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_load_secret_key_warns_when_others_can_read_it(key_files, mode):
    path = key_files["ed25519-private"]
    path.chmod(mode)
    with pytest.warns(KeyFilePermissionWarning, match="chmod 600") as record:
        load_signing_private_key(path)
    assert str(path) in str(record[0].message)
    assert record[0].filename == __file__  # points at the caller, not at keys.py
    symmetric = key_files[SYSTEM_KEY]
    symmetric.chmod(mode)
    with pytest.warns(KeyFilePermissionWarning):
        load_symmetric_key(symmetric, SYSTEM_KEY)


def test_load_secret_key_does_not_warn_at_0600_nor_for_public_keys(key_files):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_signing_private_key(key_files["ed25519-private"])
        load_symmetric_key(key_files[HUB_KEY], HUB_KEY)
        load_signing_public_key(key_files["ed25519-public"])


def test_load_unreadable_file_says_so(key_files):
    if os.geteuid() == 0:
        pytest.skip("root can read any file")
    path = key_files["ed25519-private"]
    path.chmod(0o000)
    with pytest.raises(OwfError, match="cannot be read by this user"):
        load_signing_private_key(path)


def test_keys_from_files_sign_verify_encrypt_and_decrypt(tmp_path):
    # An organisation signs with its key from disk and encrypts to the hub's public key file;
    # the hub verifies with the organisation's public key file and opens with its own key.
    signing, hub = generate_signing_key(), generate_encryption_key()
    write_private_key(tmp_path / "org" / "signing.pem", signing)
    write_public_key(tmp_path / "org" / "signing.pub", signing.public_key(), "RW1-2026-01")
    write_private_key(tmp_path / "hub" / "hub.pem", hub)
    write_public_key(tmp_path / "hub" / "hub.pub", hub.public_key(), "HUB-2026-01")

    package = b"extract bytes"
    signature = sign(load_signing_private_key(tmp_path / "org" / "signing.pem"), package)
    hub_public = load_encryption_public_key(tmp_path / "hub" / "hub.pub")
    ciphertext = encrypt(package, hub_public, INFO)

    opened = decrypt(ciphertext, load_encryption_private_key(tmp_path / "hub" / "hub.pem"), INFO)
    verify(load_signing_public_key(tmp_path / "org" / "signing.pub"), signature, opened)
    assert opened == package


# --- packaging -----------------------------------------------------------------------------


def test_importing_crypto_needs_no_dagster_dbt_yaml_or_jsonschema():
    code = (
        "import sys, pipelines.crypto\n"
        "bad = {m.split('.')[0] for m in sys.modules} & "
        "{'dagster', 'dbt', 'yaml', 'jsonschema', 'pandas', 'duckdb'}\n"
        "print(sorted(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
