"""Rotating the hub pseudonymisation key without losing the links between months.

Stage-1 tokens are never kept, so rows landed under an old hub key cannot be re-keyed from
scratch. Rotation therefore chains: the stage-2 pseudonym of epoch n+1 is
HMAC-SHA256(K_n+1, pseudonym of epoch n). Rotating re-keys every stored pseudonym one step
(person and assignment identifiers of every raw table), and ingestion applies the whole
chain to each incoming stage-1 token, so a person has one pseudonym in the warehouse before
and after, and the models never see two epochs.

What it protects against: a copy of an old hub key (a backup, a leaked file) no longer turns
NI numbers into the pseudonyms the warehouse holds; that needs every key of the chain. The
hub keeps the old keys (0600, under keys/) because ingestion needs them; rotation does not
help against someone who holds the whole key folder.

Steps, each safe to repeat (`owf hub rotate-key` finishes an interrupted rotation):
1. the new key is written as keys/hub-pseudonymisation.next.key;
2. one transaction re-keys every raw row still at the old epoch, updates the submissions'
   hub_key_epoch and appends `key_rotated` to the audit log (only once per epoch);
3. the current key is archived as keys/hub-pseudonymisation.epoch-<n>.key and the new one
   becomes keys/hub-pseudonymisation.key.
While a next key exists, ingestion refuses to start (it would use the wrong chain).
All three steps run holding the warehouse lock, and ingestion reads its keys only once it
holds that lock: a run lands either before a rotation (its rows are re-keyed with the rest)
or after it (under the new key), never under the old key after the re-keying.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.crypto import keys as kf
from pipelines.crypto.pseudonymise import pseudonymise_column
from pipelines.errors import OwfError
from pipelines.hub import audit
from pipelines.hub.home import HubPaths
from pipelines.hub.warehouse import (
    _fsync_dir,
    compact_if_owed,
    connect,
    ensure_schema,
    raw_table,
    rollback,
)
from pipelines.standard import Standard, load_standard
from pipelines.standard.validator import qi


@dataclass(frozen=True)
class Rotation:
    from_epoch: int
    to_epoch: int
    rows: int  # raw rows re-keyed in this call (0 when finishing an interrupted rotation)
    resumed: bool


def next_key_path(paths: HubPaths) -> Path:
    return paths.keys / "hub-pseudonymisation.next.key"


def archived_key_path(paths: HubPaths, epoch: int) -> Path:
    return paths.keys / f"hub-pseudonymisation.epoch-{int(epoch)}.key"


def key_chain(paths: HubPaths) -> tuple[kf.SymmetricKey, ...]:
    """The hub keys oldest first, the current one last. Refuses a gap or an interrupted rotation."""
    if next_key_path(paths).exists():
        raise OwfError(
            f"a hub key rotation was interrupted ({next_key_path(paths).name} exists); run"
            " `owf hub rotate-key` to finish it before ingesting"
        )
    current = kf.load_symmetric_key(paths.hub_pseudonymisation_key, kf.HUB_KEY)
    older = sorted(
        (
            kf.load_symmetric_key(p, kf.HUB_KEY)
            for p in paths.keys.glob("hub-pseudonymisation.epoch-*.key")
        ),
        key=lambda k: k.epoch,
    )
    chain = (*older, current)
    epochs = [k.epoch for k in chain]
    if epochs != list(range(epochs[0], epochs[0] + len(epochs))):
        raise OwfError(
            f"the hub keys under {paths.keys} have epochs {epochs}; each rotation adds the next"
            " epoch, so a key file is missing or out of place (restore it from the key backup)"
        )
    return chain


def identifier_columns(std: Standard) -> dict[str, list[str]]:
    """raw table -> its stage-2 pseudonym columns."""
    return {
        raw_table(ext.name): [f.name for f in ext.fields if f.type == "identifier"]
        for ext in std.extracts.values()
        if any(f.type == "identifier" for f in ext.fields)
    }


def key_not_older_than_the_warehouse(paths: HubPaths, wh, epoch: int) -> None:
    """Refuses to work with a hub key of an epoch older than the warehouse's rows (found in
    review): a key folder restored from a backup taken before a rotation, or a rotation's new
    key lost in a power cut. Rows landed under it would carry stage-2 pseudonyms that match no
    one's in the re-keyed months, so people would silently stop linking across months, for
    good; a rotation from it would make a second, different key for an epoch already used."""
    exists = wh.execute(
        "SELECT count(*) FROM duckdb_tables()"
        " WHERE schema_name = 'raw' AND table_name = 'submissions'"
    ).fetchone()[0]
    if not exists:
        return
    (held,) = wh.execute("SELECT max(hub_key_epoch) FROM raw.submissions").fetchone()
    if held is not None and held > epoch:
        raise OwfError(
            f"the hub's pseudonymisation key {paths.hub_pseudonymisation_key} is epoch {epoch},"
            f" but the warehouse holds submissions re-keyed to epoch {held}: the key folder"
            f" {paths.keys} is older than the warehouse (restored from a backup taken before a"
            " key rotation?). Nothing was changed. Restore the key folder from a backup taken"
            f" after the rotation to epoch {held}; working with this key would stop people"
            " linking across months."
        )


def rotate_hub_key(paths: HubPaths, actor: str = "hub") -> Rotation:
    """Rotate the hub key, holding the warehouse lock from reading the keys to promoting the
    new one: ingestion reads its keys under the same lock, so it lands either before the
    rotation (its rows are re-keyed with the rest) or after it (under the new key), never
    with the old key after the re-keying."""
    std = load_standard()
    with connect(paths) as wh:
        pending = next_key_path(paths)
        resumed = pending.exists()
        current = kf.load_symmetric_key(paths.hub_pseudonymisation_key, kf.HUB_KEY)
        key_not_older_than_the_warehouse(paths, wh, current.epoch + (1 if resumed else 0))
        if resumed:
            new = kf.load_symmetric_key(pending, kf.HUB_KEY)
            if new.epoch != current.epoch + 1:
                raise OwfError(
                    f"{pending.name} holds epoch {new.epoch} but the current hub key is epoch"
                    f" {current.epoch}; restore the key folder from its backup"
                )
        else:
            key_chain(paths)  # the chain must be whole before it grows
            new = kf.generate_symmetric_key(kf.HUB_KEY, current.epoch + 1)
            kf.write_symmetric_key(pending, new)
            # On disk before the re-keying is committed (found in review: without the folder
            # synced, a power cut could lose the new key's file beside rows keyed under it).
            _fsync_dir(paths.keys)
        rows = _rekey(wh, paths, std, current.epoch, new, actor)
        # Files follow the committed warehouse: archive the old key, promote the new one.
        archived = archived_key_path(paths, current.epoch)
        if not archived.exists():
            os.link(paths.hub_pseudonymisation_key, archived)
        os.replace(pending, paths.hub_pseudonymisation_key)
        _fsync_dir(paths.keys)
        # UPDATE leaves the old epoch's pseudonyms in the file. After the key files, so that
        # a failed compaction does not hold up ingestion; it is owed and redone next time.
        compact_if_owed(paths, wh, actor)
    return Rotation(current.epoch, new.epoch, rows, resumed)


def _rekey_warehouse(
    paths: HubPaths, std: Standard, old_epoch: int, new: kf.SymmetricKey, actor: str
) -> int:
    """`_rekey` on a connection of its own (a rotation killed before its key files moved)."""
    with connect(paths) as wh:
        return _rekey(wh, paths, std, old_epoch, new, actor)


def _rekey(
    wh: duckdb.DuckDBPyConnection,
    paths: HubPaths,
    std: Standard,
    old_epoch: int,
    new: kf.SymmetricKey,
    actor: str,
) -> int:
    """One transaction: every raw row of the old epoch one step along the chain, logged once."""
    rows = 0
    ensure_schema(wh, std)
    wh.execute("BEGIN TRANSACTION")
    try:
        for table, columns in identifier_columns(std).items():
            n = wh.execute(
                f"SELECT count(*) FROM {table} WHERE hub_key_epoch = $e",  # noqa: S608
                {"e": old_epoch},
            ).fetchall()[0][0]
            if not n:
                continue
            for column in columns:
                old = wh.sql(
                    f"SELECT DISTINCT {qi(column)} FROM {table}"  # noqa: S608
                    f" WHERE hub_key_epoch = $e AND {qi(column)} IS NOT NULL",
                    params={"e": old_epoch},
                ).to_arrow_table()
                values = old.column(0)
                mapping = pa.table({"old": values, "new": pseudonymise_column(new.key, values)})
                wh.register("owf_rekey", mapping)
                wh.execute(
                    f"UPDATE {table} AS t SET {qi(column)} = m.new FROM owf_rekey AS m"  # noqa: S608
                    f" WHERE t.hub_key_epoch = $e AND t.{qi(column)} = m.old",
                    {"e": old_epoch},
                )
                wh.unregister("owf_rekey")
            wh.execute(
                f"UPDATE {table} SET hub_key_epoch = $n WHERE hub_key_epoch = $e",  # noqa: S608
                {"n": new.epoch, "e": old_epoch},
            )
            rows += n
        wh.execute(
            "UPDATE raw.submissions SET hub_key_epoch = $n WHERE hub_key_epoch = $e",
            {"n": new.epoch, "e": old_epoch},
        )
        logged = wh.execute(
            "SELECT count(*) FROM audit.events WHERE event = 'key_rotated'"
            " AND json_extract(detail, '$.to_epoch')::INTEGER = $n",
            {"n": new.epoch},
        ).fetchone()[0]
        if not logged:
            audit.append(
                wh,
                "key_rotated",
                actor=actor,
                detail={
                    "key": "hub pseudonymisation",
                    "from_epoch": old_epoch,
                    "to_epoch": new.epoch,
                    "rows_rekeyed": rows,
                },
            )
        wh.execute("COMMIT")
    except Exception:
        rollback(wh)
        raise
    audit.write_head(paths, wh)
    return rows
