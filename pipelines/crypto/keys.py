"""Key files on disk: writing them safely and loading them with messages that say what to do.

Three formats:

- Private keys (an organisation's Ed25519 signing key, the hub's X25519 encryption key):
  PEM, PKCS#8. Unencrypted by default: what protects the file is its 0600 mode (only the
  owner can read it) and the security of the machine it is on. A passphrase can be given,
  in which case the PEM is encrypted with the library's best available scheme.
- Public keys: a two-line text file, a comment naming the algorithm and key id, then base64
  of the 32 raw bytes (the form governance/organisations.yaml stores), e.g.

      # one-workforce ed25519 public key RW1-2026-01
      3q2+7w...=

  Ed25519 and X25519 raw keys look alike, so the comment line is what tells them apart.
- Symmetric pseudonymisation keys (K_system, K_hub): JSON holding the kind, the epoch (which
  generation of the key this is), the creation date and base64 of 32 random bytes.

Secret files are created with mode 0600 from the start (never readable by others, not even
briefly), never overwritten unless asked, and replaced atomically when they are; the files
of a pair are written together (`written_together`). Loading a
secret file that other users can read or change emits a KeyFilePermissionWarning (a
UserWarning, shown once per file by default) naming the file and the `chmod` that fixes it;
the key is still returned, because refusing would stop a submission over something the
user can fix afterwards. Nothing here prints or logs key material; SymmetricKey's repr hides
the key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import datetime as dt
import json
import os
import re
import secrets
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from pipelines.errors import OwfError
from pipelines.files import fsync_dir

SYSTEM_KEY = "system-pseudonymisation-key"
HUB_KEY = "hub-pseudonymisation-key"
SYMMETRIC_KINDS = (SYSTEM_KEY, HUB_KEY)
SYMMETRIC_KEY_BYTES = 32

_GENERATE = "`owf keys generate`"
_PUBLIC_HEADER = "# one-workforce {algorithm} public key"
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DESCRIBE = {
    "ed25519-private": "an Ed25519 signing private key",
    "x25519-private": "an X25519 hub encryption private key",
    "ed25519-public": "an Ed25519 signing public key",
    "x25519-public": "an X25519 hub encryption public key",
    SYSTEM_KEY: "the system pseudonymisation key",
    HUB_KEY: "the hub pseudonymisation key",
}


# What to do about a missing key file, by kind. Found in review: every kind said to generate
# one, which an organisation must never do for the hub's public key or the system key (the
# hub could not open its package; its people would link with nobody else's).
_WHEN_MISSING = {
    "ed25519-private": "generate your organisation's signing key with `owf keys generate"
    " signing --org ORG` (and have the hub register its .pub), or give the path of the"
    " existing one",
    "ed25519-public": "write it from the private key with `owf keys export-public`, or give"
    " the path of the existing one",
    "x25519-public": "ask the hub operator for the hub's public key (hub-encryption.pub, made"
    " by `owf hub init`) and give its path; never generate one yourself: the hub could not"
    " open a package encrypted to it",
    SYSTEM_KEY: "ask the hub operator for the system pseudonymisation key (handed to each"
    " organisation by a secure route) and give its path; never generate one yourself: people"
    " pseudonymised under another key link with no other organisation's",
    "x25519-private": "restore the hub's keys folder from its backup (a new hub gets its keys"
    " from `owf hub init`), or give the path of the existing one",
    HUB_KEY: "restore the hub's keys folder from its backup (a new hub gets its keys from"
    " `owf hub init`), or give the path of the existing one",
}


class KeyFilePermissionWarning(UserWarning):
    """A secret key file can be read or changed by users other than its owner."""


# The largest epoch: the warehouse records epochs as 32-bit integers. Found in review: a key
# of epoch 10**20 was generated, registered and packaged under, and every ingestion after
# failed with an OverflowError trace.
MAX_EPOCH = 2**31 - 1


@dataclass(frozen=True)
class SymmetricKey:
    """A pseudonymisation key: `kind` is SYSTEM_KEY or HUB_KEY, `epoch` its generation."""

    kind: str
    epoch: int
    key: bytes = field(repr=False)
    created: dt.date | None = None


def generate_symmetric_key(kind: str, epoch: int) -> SymmetricKey:
    """A new pseudonymisation key of `kind`: 32 bytes from the operating system's CSPRNG."""
    _check_kind(kind)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(f"a key's epoch is a whole number from 0 to {MAX_EPOCH}")
    return SymmetricKey(kind, epoch, secrets.token_bytes(SYMMETRIC_KEY_BYTES), dt.date.today())


def _check_kind(kind: str) -> None:
    if kind not in SYMMETRIC_KINDS:
        raise ValueError(f"kind must be one of {SYMMETRIC_KINDS}, not {kind!r}")


# --- writing -------------------------------------------------------------------------------


def _make_parent(path: Path) -> None:
    """Create the missing parent directories of `path`, each with mode 0700."""
    missing = []
    parent = path.parent
    try:
        while not parent.exists() and parent != parent.parent:
            missing.append(parent)
            parent = parent.parent
    except OSError as exc:  # e.g. a directory on the way that this user cannot search
        raise _not_writable(path, parent, exc.strerror) from None
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
            os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
        except FileExistsError:
            if not directory.is_dir():
                raise _not_writable(path, directory) from None
        except OSError as exc:
            raise _not_writable(path, directory, exc.strerror) from None


def _not_writable(path: Path, directory: Path, reason: str | None = None) -> OwfError:
    because = f" ({reason})" if reason else ""
    return OwfError(
        f"cannot write key file {path}: {directory} is not a directory this user can write"
        f" to{because}. Choose another location, or fix the directory's owner and permissions."
    )


def _create_exclusive(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode`, failing if anything (even a symlink) is already there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, mode)
    try:
        os.fchmod(fd, mode)  # os.open's mode is filtered by the umask; make it exact
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


# The key files being written together (written_together): (staged file, target, overwrite).
_BATCH: contextvars.ContextVar[list[tuple[Path, Path, bool]] | None] = contextvars.ContextVar(
    "key_files_batch", default=None
)


@contextlib.contextmanager
def written_together():
    """Write the key files of one pair (or set) as one: inside the block each is written to a
    new file beside its target; when the block ends, they are renamed into place together.
    If writing any of them fails (a full disk, a folder not writable), none of the targets
    is created or changed - not a new private key beside the old public key, which would
    sign packages the hub cannot verify. A file that must not be overwritten and appeared
    meanwhile is refused before any is renamed."""
    if _BATCH.get() is not None:
        raise RuntimeError("written_together() blocks do not nest")
    batch: list[tuple[Path, Path, bool]] = []
    token = _BATCH.set(batch)
    try:
        yield
    except BaseException:
        for staged, _, _ in batch:
            staged.unlink(missing_ok=True)
        raise
    finally:
        _BATCH.reset(token)
    try:
        for _, target, overwrite in batch:
            if not overwrite and (target.exists() or target.is_symlink()):
                raise OwfError(
                    f"key file {target} already exists; refusing to overwrite it, since a lost"
                    " key cannot be recovered. Nothing was written. Move it aside first."
                )
        target = None
        for staged, target, _ in batch:
            os.replace(staged, target)
        for folder in {t.parent for _, t, _ in batch}:
            target = folder
            fsync_dir(folder)
    except OSError as exc:
        failed = Path(target or batch[0][1])
        raise _not_writable(failed, failed.parent, exc.strerror) from None
    finally:
        for staged, _, _ in batch:
            staged.unlink(missing_ok=True)


def _write_file(path: str | os.PathLike[str], data: bytes, *, mode: int, overwrite: bool) -> Path:
    path = Path(path)
    if path.is_dir():
        raise OwfError(f"cannot write key file {path}: it is a directory; give a file name.")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise OwfError(
            f"key file {path} already exists; refusing to overwrite it, since a lost key"
            " cannot be recovered. Move it aside first, or choose another file name."
        )
    _make_parent(path)
    if not path.parent.is_dir():
        raise _not_writable(path, path.parent)
    # Write a new file beside the target and rename it into place: the target is never
    # half-written, and the new file has its final mode from its first byte.
    batch = _BATCH.get()
    staged = overwrite or batch is not None
    target = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp") if staged else path
    try:
        _create_exclusive(target, data, mode)
        if batch is not None:
            batch.append((target, path, overwrite))
        elif overwrite:
            os.replace(target, path)
    except FileExistsError:
        raise OwfError(
            f"key file {path} already exists; refusing to overwrite it, since a lost key"
            " cannot be recovered. Move it aside first, or choose another file name."
        ) from None
    except OSError as exc:
        if target != path:
            target.unlink(missing_ok=True)
        raise _not_writable(path, path.parent, exc.strerror) from None
    return path


def write_private_key(
    path: str | os.PathLike[str],
    private_key: Ed25519PrivateKey | X25519PrivateKey,
    *,
    overwrite: bool = False,
    passphrase: bytes | None = None,
) -> Path:
    """Write a signing or hub encryption private key as PEM PKCS#8, mode 0600.

    Refuses to replace an existing file unless `overwrite`. With a `passphrase` the PEM is
    encrypted; without, the file's mode and the machine's security are what protect it.
    """
    if not isinstance(private_key, Ed25519PrivateKey | X25519PrivateKey):
        raise TypeError("expected an Ed25519 or X25519 private key")
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return _write_file(path, pem, mode=0o600, overwrite=overwrite)


def write_symmetric_key(
    path: str | os.PathLike[str], key: SymmetricKey, *, overwrite: bool = False
) -> Path:
    """Write a pseudonymisation key as JSON, mode 0600; refuses to overwrite unless asked."""
    _check_kind(key.kind)
    if len(key.key) != SYMMETRIC_KEY_BYTES:
        raise ValueError(f"a pseudonymisation key is {SYMMETRIC_KEY_BYTES} bytes")
    created = key.created or dt.date.today()
    document = {
        "kind": key.kind,
        "epoch": key.epoch,
        "created": created.isoformat(),
        "key_b64": base64.b64encode(key.key).decode("ascii"),
    }
    data = (json.dumps(document, indent=2) + "\n").encode("utf-8")
    return _write_file(path, data, mode=0o600, overwrite=overwrite)


def write_public_key(
    path: str | os.PathLike[str],
    public_key: Ed25519PublicKey | X25519PublicKey,
    key_id: str,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a public key as a comment line naming it, then base64 of its raw bytes.

    Mode 0644: a public key is meant to be shared.
    """
    if isinstance(public_key, Ed25519PublicKey):
        algorithm = "ed25519"
    elif isinstance(public_key, X25519PublicKey):
        algorithm = "x25519"
    else:
        raise TypeError("expected an Ed25519 or X25519 public key")
    if not isinstance(key_id, str) or _KEY_ID.fullmatch(key_id) is None:
        raise OwfError(
            f"key id {key_id!r} must be letters, digits, '.', '_' or '-' with no spaces,"
            " e.g. RW1-2026-01."
        )
    raw_b64 = base64.b64encode(public_key.public_bytes_raw()).decode("ascii")
    text = f"{_PUBLIC_HEADER.format(algorithm=algorithm)} {key_id}\n{raw_b64}\n"
    return _write_file(path, text.encode("ascii"), mode=0o644, overwrite=overwrite)


# --- reading -------------------------------------------------------------------------------


def _read(path: str | os.PathLike[str], expected: str) -> tuple[Path, bytes, int]:
    """The file's path, bytes and permission bits, or an OwfError saying what to do."""
    path = Path(path)
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise OwfError(
            f"key file {path} ({_DESCRIBE[expected]}) does not exist:"
            f" {_WHEN_MISSING.get(expected, f'generate it with {_GENERATE}')}."
        ) from None
    except IsADirectoryError:
        raise OwfError(
            f"key file {path} is a directory; give the path of {_DESCRIBE[expected]}."
        ) from None
    except PermissionError:
        raise OwfError(
            f"key file {path} cannot be read by this user; run as the key's owner, or fix the"
            " file's owner."
        ) from None
    except OSError as exc:
        raise OwfError(f"key file {path} cannot be read ({exc.strerror}).") from None
    return path, data, stat.S_IMODE(mode)


def _warn_if_exposed(path: Path, mode: int, stacklevel: int) -> None:
    """Warn, naming the fix, when a secret key file grants any access to group or others.

    Called only once the file has loaded as the expected key, so a mix-up is reported as
    that and not also as a permission problem.
    """
    if mode & 0o077:
        warnings.warn(
            f"key file {path} can be read or changed by other users (mode {mode:04o});"
            f" restrict it with `chmod 600 {path}`.",
            KeyFilePermissionWarning,
            stacklevel=stacklevel + 1,
        )


def _what_is(data: bytes) -> str | None:
    """Recognise the other key formats, so a mix-up can be named in the error message."""
    text = data.lstrip()
    if text.startswith(b"# one-workforce ed25519 public key"):
        return "ed25519-public"
    if text.startswith(b"# one-workforce x25519 public key"):
        return "x25519-public"
    if text.startswith(b"-----BEGIN PUBLIC KEY-----"):
        return "a PEM public key"
    if text.startswith(b"{"):
        try:
            kind = json.loads(data).get("kind")
        except (ValueError, AttributeError):
            return None
        return kind if kind in SYMMETRIC_KINDS else None
    pem_label = text[:40].split(b"\n", 1)[0].rstrip()  # e.g. the BEGIN line of a PKCS#8 key
    if pem_label.startswith(b"-----BEGIN") and pem_label.endswith(b"PRIVATE KEY-----"):
        try:
            key = serialization.load_pem_private_key(data, None)
        except (ValueError, TypeError):
            return "a private key"
        if isinstance(key, Ed25519PrivateKey):
            return "ed25519-private"
        if isinstance(key, X25519PrivateKey):
            return "x25519-private"
        return "a private key of another algorithm"
    return None


def _wrong_type(path: Path, found: str, expected: str) -> OwfError:
    return OwfError(
        f"key file {path} holds {_DESCRIBE.get(found, found)}, but {_DESCRIBE[expected]} is"
        " expected here; check which file was given."
    )


def _garbled(path: Path, expected: str) -> OwfError:
    return OwfError(
        f"key file {path} is not {_DESCRIBE[expected]} in a format One Workforce reads: it is"
        f" damaged or not a key file. Restore it from its backup, or generate a new key with"
        f" {_GENERATE} (and register the new public key)."
    )


def _load_private(
    path: str | os.PathLike[str], expected: str, cls: type, passphrase: bytes | None
) -> Ed25519PrivateKey | X25519PrivateKey:
    path, data, mode = _read(path, expected)
    if not data.lstrip().startswith(b"-----BEGIN"):
        found = _what_is(data)
        raise _wrong_type(path, found, expected) if found else _garbled(path, expected)
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except TypeError:
        if passphrase is None:
            raise OwfError(
                f"key file {path} is protected by a passphrase; give the passphrase to use it."
            ) from None
        raise OwfError(
            f"key file {path} is not protected by a passphrase; use it without one."
        ) from None
    except ValueError:
        found = _what_is(data)
        if found == "a PEM public key":
            raise _wrong_type(path, found, expected) from None
        if passphrase is not None and b"ENCRYPTED PRIVATE KEY" in data:
            raise OwfError(
                f"key file {path} cannot be decrypted with this passphrase: the passphrase is"
                " wrong, or the file is damaged."
            ) from None
        raise _garbled(path, expected) from None
    except UnsupportedAlgorithm:
        raise _wrong_type(path, "a private key of another algorithm", expected) from None
    if not isinstance(key, cls):
        if isinstance(key, Ed25519PrivateKey):
            found = "ed25519-private"
        elif isinstance(key, X25519PrivateKey):
            found = "x25519-private"
        else:
            found = "a private key of another algorithm"
        raise _wrong_type(path, found, expected)
    _warn_if_exposed(path, mode, stacklevel=3)  # the caller of load_*_private_key
    return key


def load_signing_private_key(
    path: str | os.PathLike[str], passphrase: bytes | None = None
) -> Ed25519PrivateKey:
    """An organisation's Ed25519 signing private key from its PEM file."""
    return _load_private(path, "ed25519-private", Ed25519PrivateKey, passphrase)


def load_encryption_private_key(
    path: str | os.PathLike[str], passphrase: bytes | None = None
) -> X25519PrivateKey:
    """The hub's X25519 encryption private key from its PEM file."""
    return _load_private(path, "x25519-private", X25519PrivateKey, passphrase)


def _load_public(path: str | os.PathLike[str], algorithm: str, cls: type) -> object:
    expected = f"{algorithm}-public"
    path, data, _ = _read(path, expected)
    header = f"{_PUBLIC_HEADER.format(algorithm=algorithm)} ".encode("ascii")
    lines = [line.strip() for line in data.splitlines() if line.strip()]
    if not lines or not lines[0].startswith(header):
        found = _what_is(data)
        raise _wrong_type(path, found, expected) if found else _garbled(path, expected)
    body = [line for line in lines[1:] if not line.startswith(b"#")]
    try:
        if len(body) != 1:
            raise ValueError
        raw = base64.b64decode(body[0], validate=True)
        return cls.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise _garbled(path, expected) from None


def load_signing_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """An Ed25519 signing public key from a file written by `write_public_key`."""
    return _load_public(path, "ed25519", Ed25519PublicKey)


def load_encryption_public_key(path: str | os.PathLike[str]) -> X25519PublicKey:
    """The hub's X25519 encryption public key from a file written by `write_public_key`."""
    return _load_public(path, "x25519", X25519PublicKey)


def load_symmetric_key(path: str | os.PathLike[str], kind: str) -> SymmetricKey:
    """A pseudonymisation key of `kind` (SYSTEM_KEY or HUB_KEY) from its JSON file."""
    _check_kind(kind)
    path, data, mode = _read(path, kind)
    try:
        document = json.loads(data)
    except ValueError:
        found = _what_is(data)
        raise (_wrong_type(path, found, kind) if found else _garbled(path, kind)) from None
    if not isinstance(document, dict):
        raise _garbled(path, kind)
    found_kind = document.get("kind")
    if found_kind != kind:
        if found_kind in SYMMETRIC_KINDS:
            raise _wrong_type(path, found_kind, kind)
        raise _garbled(path, kind)
    epoch = document.get("epoch")
    try:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH:
            raise ValueError
        created_text = document.get("created")
        created = dt.date.fromisoformat(created_text) if created_text is not None else None
        key = base64.b64decode(document.get("key_b64", ""), validate=True)
        if len(key) != SYMMETRIC_KEY_BYTES:
            raise ValueError
    except (ValueError, TypeError, binascii.Error):
        raise _garbled(path, kind) from None
    _warn_if_exposed(path, mode, stacklevel=2)  # the caller of load_symmetric_key
    return SymmetricKey(kind, epoch, key, created)
