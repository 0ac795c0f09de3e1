"""The submission package: one file, signed by the organisation, readable only by the hub.

Layout (all lengths big-endian):

    magic        8 bytes   b"OWFPKG\\x00\\x01" (format version 1)
    manifest     u32 length + canonical JSON (UTF-8, sorted keys, no spaces)
    ciphertext   u64 length + HPKE(X25519, HKDF-SHA256, AES-256-GCM) of the Parquet payload,
                 encrypted to the hub's public key with info = INFO_PREFIX + manifest, so the
                 manifest is bound to the payload
    signature    u16 length + Ed25519 signature by the organisation over every byte above

The manifest travels in clear (the hub must know whose key to verify with before it can
decrypt) and says nothing about any person: organisation, extract, period, standard version,
row count, payload SHA-256, key epoch, the signing key's fingerprint, the hub key's
fingerprint, tool version, created time, the fields sent.

`seal_package` is the organisation side; `read_package`, `verify_package` and
`decrypt_package` (or `open_package` for all three) are the hub side. Every failure raises
PackageError with a stable `reason` and a message that says what is wrong and what to do.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from pipelines.crypto.encryption import DecryptionError, decrypt, encrypt
from pipelines.crypto.keys import MAX_EPOCH
from pipelines.crypto.signing import SignatureError, key_fingerprint, sign, verify
from pipelines.errors import OwfError

MAGIC = b"OWFPKG\x00\x01"
INFO_PREFIX = b"one-workforce/package/v1\n"
FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20
SUFFIX = ".owfpkg"

MANIFEST_FIELDS = (
    "format_version",
    "package_id",
    "org_code",
    "extract",
    "period",
    "standard_version",
    "row_count",
    "payload_sha256",
    "payload_bytes",
    "key_epoch",
    "signing_key_fingerprint",
    "hub_key_fingerprint",
    "tool_version",
    "created_at",
    "fields",
    "profile",
    "agreement_id",
)

# The payload's column types by the standard's field type, any other travelling as text:
# DuckDB's, which `owf submit prepare` casts every outgoing column to, and so Arrow's, which
# the hub requires of every package (a column of another type is refused: it would stop the
# hub's batches of many packages, which must agree on types).
PAYLOAD_TYPES = {"integer": "BIGINT", "decimal": "DOUBLE", "date": "DATE"}
_ARROW_TYPES = {
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "VARCHAR": pa.string(),
}


def payload_sql_type(field_type: str) -> str:
    """The DuckDB type a field of the standard's `field_type` travels as."""
    return PAYLOAD_TYPES.get(field_type, "VARCHAR")


def payload_arrow_type(field_type: str) -> pa.DataType:
    """The Arrow type a field of the standard's `field_type` has in a payload."""
    return _ARROW_TYPES[payload_sql_type(field_type)]


# Written by every tool since the system key check (see pipelines.crypto.pseudonymise
# .system_key_check); a package without it was made by an older tool, which the hub takes
# only where the registry lists no check for the key's epoch.
OPTIONAL_MANIFEST_FIELDS = ("system_key_check",)


# What each manifest field must hold. The manifest is read before the signature is checked,
# so until then it is anyone's: a value of another type is a damaged manifest, refused before
# anything (the hub's records, its ordering by created_at) relies on it.
_INT_FIELDS = ("format_version", "row_count", "payload_bytes", "key_epoch")
_LIST_FIELDS = ("fields",)
# The package id becomes the submission id, which names the hub's receipt file: a plain name
# (the tool makes 32 hex digits), never a path.
PACKAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _well_typed(manifest: dict) -> bool:
    if not isinstance(manifest["package_id"], str) or not PACKAGE_ID.fullmatch(
        manifest["package_id"]
    ):
        return False
    for name in MANIFEST_FIELDS + OPTIONAL_MANIFEST_FIELDS:
        if name not in manifest:
            continue  # a required one is checked for by the caller
        value = manifest[name]
        if name in _INT_FIELDS:
            # Within what the hub records (a 32-bit integer): an epoch of 10**20 stopped every
            # ingestion with an OverflowError (found in review).
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
            if name == "key_epoch":
                ok = ok and value <= MAX_EPOCH
        elif name in _LIST_FIELDS:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, str)
        if not ok:
            return False
    return True


class PackageError(OwfError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RawPackage:
    manifest: dict
    manifest_bytes: bytes
    ciphertext: bytes
    signature: bytes
    signed_bytes: bytes
    sha256: str  # of the whole package file: its identity for "the same package twice"


def canonical_json(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def payload_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def seal_package(
    table: pa.Table,
    manifest: dict,
    signing_key: Ed25519PrivateKey,
    hub_public_key: X25519PublicKey,
    *,
    payload: bytes | None = None,
) -> tuple[bytes, dict]:
    """Serialise, encrypt and sign. Fills in the payload and key fields of the manifest.

    `payload`: `payload_bytes(table)` if the caller has already made it."""
    if payload is None:
        payload = payload_bytes(table)
    manifest = dict(manifest)
    manifest.update(
        format_version=FORMAT_VERSION,
        row_count=table.num_rows,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        payload_bytes=len(payload),
        fields=table.column_names,
        signing_key_fingerprint=key_fingerprint(signing_key.public_key()),
        hub_key_fingerprint=key_fingerprint(hub_public_key),
    )
    missing = [f for f in MANIFEST_FIELDS if f not in manifest]
    if missing:
        raise ValueError(f"manifest lacks {missing}")
    return seal_parts(manifest, payload, signing_key, hub_public_key), manifest


def seal_parts(
    manifest: dict,
    payload: bytes,
    signing_key: Ed25519PrivateKey,
    hub_public_key: X25519PublicKey,
) -> bytes:
    """The package file of exactly this manifest and payload: the payload encrypted to the hub
    with the manifest bound, the whole signed. Nothing is filled in or checked (seal_package
    does that)."""
    manifest_bytes = canonical_json(manifest)
    ciphertext = encrypt(payload, hub_public_key, INFO_PREFIX + manifest_bytes)
    body = (
        MAGIC
        + struct.pack(">I", len(manifest_bytes))
        + manifest_bytes
        + struct.pack(">Q", len(ciphertext))
        + ciphertext
    )
    signature = sign(signing_key, body)
    return body + struct.pack(">H", len(signature)) + signature


def still_short(path: Path) -> bool:
    """Whether the file is the start of a package that its own header says is longer (or too
    short yet to say): what a transfer writing in place leaves while it is under way. False
    for a file that does not start like a package, or whose lengths cannot be a package's.
    Reads only the few header bytes, not the file."""
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(12)
            if head[:8] != MAGIC[: min(len(head), 8)]:
                return False
            if len(head) < 12:
                return True
            (mlen,) = struct.unpack(">I", head[8:12])
            if mlen > MAX_MANIFEST_BYTES:
                return False
            need = 12 + mlen + 8
            if size < need:
                return True
            fh.seek(12 + mlen)
            (clen,) = struct.unpack(">Q", fh.read(8))
            need += clen + 2
            if size < need:
                return True
            fh.seek(need - 2)
            (slen,) = struct.unpack(">H", fh.read(2))
            return size < need + slen
    except (OSError, struct.error):
        return False


def read_package(data: bytes, display: str = "the package") -> RawPackage:
    """Parse the container. Nothing here is trusted until `verify_package` has run."""
    if not data:
        raise PackageError(
            "truncated",
            f"{display} is empty (0 bytes): the transfer failed or the file was never written."
            " Send the package again (the organisation's outbox keeps it).",
        )
    if not data.startswith(MAGIC[:6]):
        raise PackageError(
            "not_a_package",
            f"{display} is not a One Workforce package (it does not start with the package"
            " header); make packages with `owf submit prepare`.",
        )
    if data[:8] != MAGIC:
        raise PackageError(
            "unsupported_version",
            f"{display} is a package of a format version this hub does not read; upgrade the hub.",
        )
    pos = 8
    try:
        (mlen,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if mlen > MAX_MANIFEST_BYTES or pos + mlen > len(data):
            raise struct.error
        manifest_bytes = data[pos : pos + mlen]
        pos += mlen
        (clen,) = struct.unpack_from(">Q", data, pos)
        pos += 8
        if pos + clen > len(data):
            raise struct.error
        ciphertext = data[pos : pos + clen]
        pos += clen
        signed = data[:pos]
        (slen,) = struct.unpack_from(">H", data, pos)
        pos += 2
        signature = data[pos : pos + slen]
        if len(signature) != slen or pos + slen != len(data):
            raise struct.error
    except struct.error:
        raise PackageError(
            "truncated",
            f"{display} is truncated or damaged (its section lengths do not match its size);"
            " send the package file again.",
        ) from None
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
        if (
            not isinstance(manifest, dict)
            or any(f not in manifest for f in MANIFEST_FIELDS)
            or not _well_typed(manifest)
        ):
            raise ValueError
    except (UnicodeDecodeError, ValueError):
        raise PackageError(
            "bad_manifest",
            f"{display} has a damaged manifest; send the package file again.",
        ) from None
    return RawPackage(
        manifest, manifest_bytes, ciphertext, signature, signed, hashlib.sha256(data).hexdigest()
    )


def verify_package(
    raw: RawPackage, public_key: Ed25519PublicKey, display: str = "the package"
) -> None:
    try:
        verify(public_key, raw.signature, raw.signed_bytes, what=display)
    except SignatureError:
        raise PackageError(
            "bad_signature",
            f"{display} does not carry a valid signature of {raw.manifest.get('org_code')}'s"
            f" registered key {key_fingerprint(public_key)}: it was altered after signing, or"
            " signed with another key. Nothing from it was used.",
        ) from None


def decrypt_package(
    raw: RawPackage, hub_private_key: X25519PrivateKey, display: str = "the package"
) -> pa.Table:
    try:
        payload = decrypt(
            raw.ciphertext, hub_private_key, INFO_PREFIX + raw.manifest_bytes, what=display
        )
    except DecryptionError:
        wanted = raw.manifest.get("hub_key_fingerprint")
        have = key_fingerprint(hub_private_key.public_key())
        hint = (
            f" It was encrypted to hub key {wanted}, not this hub's key {have}: the"
            " organisation's hub-encryption.pub is another hub's (or one it made itself)."
            " Send it this hub's public key (keys/hub-encryption.pub) and ask it to prepare the"
            " package again with that key."
            if wanted != have
            else " It was altered after it was made."
        )
        raise PackageError(
            "wrong_hub_key" if wanted != have else "undecryptable",
            f"{display} cannot be decrypted.{hint}",
        ) from None
    if hashlib.sha256(payload).hexdigest() != raw.manifest["payload_sha256"]:
        raise PackageError(
            "payload_hash_mismatch",
            f"{display}: the payload does not match the manifest's SHA-256.",
        )
    try:
        # The file's own reader, not read_table's dataset layer: 1,100 national packages
        # decode in 0.9-1.1 s against 1.25-1.5 s (docs/benchmarks.md).
        table = pq.ParquetFile(pa.BufferReader(payload)).read()
    except Exception:  # pyarrow raises several types for a bad file
        raise PackageError(
            "unreadable_payload", f"{display}: the payload is not a readable Parquet file."
        ) from None
    if table.num_rows != raw.manifest["row_count"] or table.column_names != raw.manifest["fields"]:
        raise PackageError(
            "manifest_mismatch",
            f"{display}: the payload's rows or columns differ from the manifest.",
        )
    return table


def open_package(
    path_or_bytes: Path | bytes,
    public_key: Ed25519PublicKey,
    hub_private_key: X25519PrivateKey,
) -> tuple[dict, pa.Table]:
    """Hub side in one call: parse, verify the signature, decrypt, check, return the table."""
    if isinstance(path_or_bytes, bytes):
        data, display = path_or_bytes, "the package"
    else:
        path = Path(path_or_bytes)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PackageError(
                "unreadable", f"cannot read package {path}: {exc.strerror}"
            ) from None
        display = path.name
    raw = read_package(data, display)
    verify_package(raw, public_key, display)
    return raw.manifest, decrypt_package(raw, hub_private_key, display)
