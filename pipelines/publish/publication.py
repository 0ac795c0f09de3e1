"""Write-audit-publish: the disclosure-controlled publication, swapped in atomically.

The models are built and checked in the warehouse (the workspace); this step runs only after
every blocking check passed (Dagster's blocking asset checks hold it back otherwise). It
reads each published view (dbt `published/` layer), applies the disclosure policy of the
agreements the rows come from, and writes, into a private staging folder:

    published.duckdb            one table per output
    parquet/<table>.parquet, csv/<table>.csv  (CSV marks suppressed cells "[c]")
    data_dictionary.md          from the dbt documentation of the published models
    report.md                   the headline and what is in the publication
    manifest.json               version, time, submissions used (ids and hashes), standard and
                                code versions, checks passed, files with their SHA-256

then renames the folder to publications/<version> and repoints publications/latest, each in
one atomic step. A run killed at any moment leaves `latest` on the previous, complete
publication; leftover staging folders are removed by the next run. Previous publications
are kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import __version__
from pipelines.errors import OwfError
from pipelines.governance import Governance, load_governance
from pipelines.governance.check import PUBLICATION_AUDIENCE
from pipelines.hub import audit
from pipelines.hub.home import HubPaths
from pipelines.hub.warehouse import connect
from pipelines.paths import PROJECT_ROOT
from pipelines.publish.carry import PARTITION, Carry, by_period, controlled_columns
from pipelines.publish.carry import enabled as carry_enabled
from pipelines.publish.disclosure import (
    CSV_MARKER,
    SUPPRESSED_COLUMN,
    Policy,
    TableSpec,
    naming,
    omitted_rows,
    protect,
    protection_order,
    round_decimals,
)
from pipelines.standard import load_standard
from pipelines.transform.project import parse

AUDIENCE = PUBLICATION_AUDIENCE
STAGING_PREFIX = ".staging-"


def publications_dir(paths: HubPaths) -> Path:
    return paths.root / "publications"


@dataclass(frozen=True)
class PublishedModel:
    name: str  # table name in the publication (pub_ prefix dropped)
    view: str  # published.<pub_...> in the warehouse
    output: str  # output name in the agreements' output_access
    description: str
    columns: dict[str, str]
    spec: TableSpec


def published_models() -> list[PublishedModel]:
    """The dbt published/ layer, read from the manifest: views, descriptions, disclosure specs."""
    manifest = json.loads(parse().read_text())
    models = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or "published" not in node["fqn"]:
            continue
        meta = node.get("meta") or node.get("config", {}).get("meta", {})
        models.append(
            PublishedModel(
                name=node["name"].removeprefix("pub_"),
                view=node["name"],
                output=meta["output"],
                description=node["description"],
                columns={c: v["description"] for c, v in node["columns"].items()},
                spec=TableSpec.from_meta(meta.get("disclosure", {})),
            )
        )
    return sorted(models, key=lambda m: m.name)


def policy_resolver(gov: Governance):
    """(organisations a row is about) -> Policy: the strictest policy of their agreements (the
    default where an organisation has none)."""
    default = Policy(gov.disclosure_default.suppress_max, gov.disclosure_default.round_to)
    by_org: dict[str, Policy] = {}
    for org in gov.organisations:
        policy = default
        for a in gov.agreements_for(org):
            policy = policy.stricter(Policy(a.disclosure.suppress_max, a.disclosure.round_to))
        by_org[org] = policy

    def resolve(orgs: tuple[str, ...]) -> Policy:
        policy = default
        for org in orgs:
            policy = policy.stricter(by_org.get(org, default))
        return policy

    return resolve, by_org, default


def permitted_orgs(
    gov: Governance, output: str, audience: str = AUDIENCE, on: dt.date | None = None
) -> set[str]:
    """Organisations whose agreements in force (`on`, by default today) let `audience` see
    `output` about them."""
    on = on or dt.date.today()
    allowed = set()
    for org in gov.organisations:
        for a in gov.agreements_for(org):
            if not a.in_force_on(on):
                continue
            for access in a.output_access:
                if access["audience"] == audience and output in access["outputs"]:
                    allowed.add(org)
    return allowed


def not_published(
    gov: Governance, models: list[PublishedModel], frames: dict[str, pd.DataFrame]
) -> dict[str, list[str]]:
    """Table -> the organisations with rows in it that it leaves out, because their
    agreements do not give the audience its output (so they count in its system rows). An
    organisation with no rows in a table (it never sent the extract) is not among them."""
    out = {}
    for m in models:
        frame = frames.get(m.name)
        present: set[str] = set()
        for col in m.spec.org_columns if frame is not None else ():
            if col in frame.columns:
                present |= set(frame[col].dropna().unique()) - {"SYSTEM", "ALL_ORGANISATIONS"}
        out[m.name] = sorted(present - permitted_orgs(gov, m.output))
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_version() -> dict:
    info = {"package": __version__}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            )
            info["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _new_version(root: Path) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    version, n = stamp, 1
    while (root / version).exists():
        n += 1
        version = f"{stamp}-{n}"
    return version


def check_publications_writable(paths: HubPaths) -> Path:
    """The publications folder, made if need be; an OwfError if it cannot be written (a file
    where the folder should be, permissions, a full disk), before any work is spent."""
    root = publications_dir(paths)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OwfError(
            f"the publications folder {root} cannot be written ({exc.strerror or exc}):"
            " make it a folder the hub can write (move away a file of that name, free disk"
            " space, fix its permissions) and publish again. Nothing was published; the latest"
            " publication, if any, is unchanged."
        ) from None
    # `latest` is a link to the newest publication's folder, replaced in one step. A copy of
    # the hub made without keeping links (`cp -r`) turns it into a folder, which the swap
    # cannot replace: it failed only at the end, after the build, with "Is a directory".
    latest = root / "latest"
    if latest.exists() and not latest.is_symlink():
        raise OwfError(
            f"{latest} is a {'folder' if latest.is_dir() else 'file'}, not the link to the"
            " newest publication that the hub keeps there (was the hub copied without keeping"
            " links, e.g. with `cp -r` instead of `cp -a`?). Move it aside (e.g. `mv"
            f" {latest} {root / 'latest.copy'}`) and publish again: the new publication will"
            " put the link back. Nothing was published; every publication folder is unchanged."
        )
    return root


def clean_staging(paths: HubPaths) -> list[Path]:
    """Remove staging folders left by runs that did not finish."""
    root = publications_dir(paths)
    removed = []
    for p in root.glob(f"{STAGING_PREFIX}*") if root.exists() else []:
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _pause(point: str) -> None:
    """Fault-injection aid for the crash-safety tests (pause at a named point)."""
    if os.environ.get("OWF_PUBLISH_PAUSE_AT") == point:
        time.sleep(float(os.environ.get("OWF_PUBLISH_PAUSE_SECONDS", "30")))


def publish(
    paths: HubPaths,
    *,
    checks: list[dict] | None = None,
    actor: str = "hub",
    gov: Governance | None = None,
) -> Path:
    """Build and swap in a new publication; returns its folder. The hub's writer lock is held
    from reading the warehouse to the publication's audit event: a second publication waits
    (it once removed the first's staging folder as a leftover, mid-write), and nothing is
    logged between the swap and its event."""
    gov = gov or load_governance(paths.governance)
    with connect(paths) as wh:
        return _publish(paths, wh, checks=checks, actor=actor, gov=gov)


def _publish(
    paths: HubPaths,
    wh: duckdb.DuckDBPyConnection,
    *,
    checks: list[dict] | None,
    actor: str,
    gov: Governance,
) -> Path:
    root = check_publications_writable(paths)
    clean_staging(paths)
    _record_unlogged_latest(paths, wh, actor)
    resolve, by_org, default = policy_resolver(gov)
    models = published_models()
    # Read first: a refusal (an audit log that fails verification) leaves no staging folder.
    submissions, frames = read_workspace(paths, models, wh)
    not_in_force = submissions_not_in_force(wh)
    version = _new_version(root)
    staging = root / f"{STAGING_PREFIX}{version}"
    (staging / "parquet").mkdir(parents=True)
    (staging / "csv").mkdir()
    tables: dict[str, dict] = {}

    carry = Carry(paths.disclosure_cache, wh, by_org, default) if carry_enabled() else None
    controlled = control_all(frames, models, gov, resolve, carry)
    out = duckdb.connect(str(staging / "published.duckdb"))
    try:
        for m in models:
            _, protected = controlled[m.name]
            out.register("incoming", protected)
            out.execute(f"CREATE TABLE {m.name} AS SELECT * FROM incoming")  # noqa: S608 - dbt model names
            out.unregister("incoming")
            pq_path = staging / "parquet" / f"{m.name}.parquet"
            pq.write_table(pa.Table.from_pandas(protected, preserve_index=False), pq_path)
            csv_path = staging / "csv" / f"{m.name}.csv"
            _write_csv(protected, m.spec, csv_path, carry, m)
            tables[m.name] = {
                "output": m.output,
                "rows": len(protected),
                "columns": list(protected.columns),
                "suppressed_cells": suppressed_cells(protected[SUPPRESSED_COLUMN]),
                "parquet_sha256": _sha256(pq_path),
                "csv_sha256": _sha256(csv_path),
            }
            _pause("after_first_table")
    finally:
        out.close()

    std = load_standard()
    withheld = not_published(gov, models, frames)
    (staging / "data_dictionary.md").write_text(
        _dictionary(models, by_org, default, withheld, not_in_force)
    )
    (staging / "report.md").write_text(
        _report(version, staging, submissions, withheld, not_in_force)
    )
    manifest = {
        "version": version,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "audience": AUDIENCE,
        "standard_version": std.version,
        "code_version": code_version(),
        "submissions": [
            {"submission_id": s, "org_code": o, "extract": e, "period": p, "package_sha256": h}
            for s, o, e, p, h in submissions
        ],
        # Accepted, but not used: no agreement in force on the build day covers them.
        "submissions_not_in_force": [
            {"org_code": o, "extract": e, "submissions": n} for o, e, n in not_in_force
        ],
        "checks": checks or [],
        "disclosure": {
            "default": default.__dict__,
            "by_organisation": {k: v.__dict__ for k, v in sorted(by_org.items())},
            "rule": "below system level: 0 stays 0; 1..suppress_max suppressed; others rounded to the"
            " nearest round_to; rates on suppressed counts suppressed, others worked out from"
            " the published (rounded) cells; secondary suppression in additive groups",
            # How many (table, month)s were controlled for this publication, and how many
            # carried forward from an earlier one, unchanged (pipelines.publish.carry).
            **(carry.summary() if carry else {}),
        },
        "tables": tables,
        "files": {},
    }
    for path in sorted(staging.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            manifest["files"][str(path.relative_to(staging))] = _sha256(path)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    _fsync_tree(staging)
    _pause("before_swap")

    final = root / version
    os.replace(staging, final)
    _point_latest(root, version)
    if carry is not None:
        carry.prune()
    _pause("after_swap")
    _log_published(
        paths,
        wh,
        actor,
        {
            "version": version,
            "tables": len(tables),
            "submissions": len(submissions),
            "checks_passed": sum(1 for c in checks or [] if c.get("passed")),
            # What the governance of the day left out (found in review: which data was used
            # under which agreement could not be read from the log): submissions no agreement
            # in force covered, and the organisations each table withholds by output_access.
            "submissions_not_in_force": [
                {"org_code": o, "extract": e, "submissions": n} for o, e, n in not_in_force
            ],
            "withheld_by_output_access": {t: orgs for t, orgs in withheld.items() if orgs},
        },
    )
    return final


def _log_published(
    paths: HubPaths, wh: duckdb.DuckDBPyConnection, actor: str, detail: dict
) -> None:
    wh.execute("BEGIN TRANSACTION")
    audit.append(wh, "published", actor=actor, detail=detail)
    wh.execute("COMMIT")
    audit.write_head(paths, wh)


def _record_unlogged_latest(paths: HubPaths, wh: duckdb.DuckDBPyConnection, actor: str) -> None:
    """A publication swapped in by a run that stopped before logging it (killed between the
    swap and its event) is what planners have: log it now, saying so, so that the audit log
    names every publication that was ever latest."""
    latest = publications_dir(paths) / "latest"
    if not latest.is_symlink():
        return
    version = os.readlink(latest)
    logged = wh.execute(
        "SELECT count(*) FROM audit.events WHERE event = 'published'"
        " AND json_extract_string(detail, '$.version') = $v",
        {"v": version},
    ).fetchone()[0]
    if logged:
        return
    try:
        manifest = json.loads((latest / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    _log_published(
        paths,
        wh,
        actor,
        {
            "version": version,
            "tables": len(manifest.get("tables", {})),
            "submissions": len(manifest.get("submissions", [])),
            "recorded_late": "the run that made it latest stopped before logging it",
        },
    )


def read_workspace(
    paths: HubPaths, models: list[PublishedModel], wh: duckdb.DuckDBPyConnection | None = None
) -> tuple[list, dict[str, pd.DataFrame]]:
    """The submissions the last build read and every published view, in one consistent moment
    (on `wh`, a connection the caller holds with the hub's lock; by default one of its own).

    The submissions come from the build (marts.built_from_submissions), not from
    raw.submissions now: one accepted since that build is not in the marts being published."""
    if wh is None:
        with connect(paths, write=False) as own:
            return read_workspace(paths, models, own)
    _require_intact_audit_chain(paths, wh)
    submissions = wh.execute(
        "SELECT submission_id, org_code, extract_type, period, package_sha256"
        " FROM marts.built_from_submissions ORDER BY org_code, extract_type, period"
    ).fetchall()
    if not submissions:
        # Every table would be empty: made latest, it would replace what planners
        # have with nothing (a hub whose submissions were all refused or purged).
        raise OwfError(
            "the last build of the models read no accepted submission, so every"
            " published table would be empty. Nothing was published; the latest"
            " publication is unchanged. Ingest accepted submissions (`owf hub status`"
            " shows what was refused or quarantined, and why), then publish again."
        )
    # The same data makes the same publication: rows in one order (DuckDB returns a
    # table's rows in whatever order its threads finished, and secondary suppression
    # visits groups in row order), and sums without the last binary digits that the
    # order of their additions decides (3611.9700000000016 one build, 3611.97 the
    # next). Nine decimals keep every published figure exactly as it would be shown.
    frames = {
        m.name: _settled(
            wh.execute(f"SELECT * FROM published.{m.view} ORDER BY ALL").df()  # noqa: S608 - dbt model names
        )
        for m in models
    }
    return submissions, frames


FLOAT_DECIMALS = 9


def _settled(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its floating-point columns rounded to FLOAT_DECIMALS (see read_workspace)."""
    for col in frame.columns:
        if pd.api.types.is_float_dtype(frame[col]):
            frame[col] = frame[col].round(FLOAT_DECIMALS)
    return frame


def submissions_not_in_force(wh: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(organisation, extract, submissions) accepted but not used by the build: no agreement
    in force on the build day covers them any more (stg_submissions' status `withheld`)."""
    return [
        (org, extract, int(n))
        for org, extract, n in wh.execute(
            "SELECT org_code, extract_type, count(*) FROM staging.stg_submissions"
            " WHERE submission_status = 'withheld' GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    ]


def _require_intact_audit_chain(paths: HubPaths, wh: duckdb.DuckDBPyConnection) -> None:
    """Nothing is published from a warehouse whose audit log fails verification: the log is
    the record of what was accepted from whom, and an edited, deleted or reordered row says
    the warehouse was changed outside the hub. (Ingestion is held back the same way, by the
    audit_chain_intact check.)"""
    rows, problems = audit.verify(wh, audit.read_head(paths), head_expected=True)
    if problems:
        raise OwfError(
            f"the hub's audit log ({paths.warehouse}, audit.events) fails verification:"
            f" {problems[0].message}"
            + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else "")
            + ". Nothing was published; the latest publication is unchanged. Run `owf audit"
            " verify` for every problem, and restore the warehouse from a backup before"
            " publishing."
        )


def control(
    frame: pd.DataFrame,
    model: PublishedModel,
    gov: Governance,
    resolve=None,
    followed: dict[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the rows the audience may see, those rows disclosure-controlled), index-aligned.

    Rows about an organisation whose agreements do not permit the output are withheld, and
    protected as suppressed cells first: the system rows still count that organisation, so
    without secondary suppression around them they could be recovered by subtraction.
    `followed`: the tables the model's spec follows, protected, withheld rows included
    (`control_all` gives them)."""
    visible, protected, keep = _control(frame, model, gov, resolve, followed)
    return _published_rows(visible, protected[keep].reset_index(drop=True), model.spec)


def _published_rows(
    visible: pd.DataFrame, protected: pd.DataFrame, spec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(visible, protected) without the rows the spec leaves out (omitted_rows), and the
    protected rows without the columns it does not publish (`unpublished`: the visible rows,
    the figures before control, keep them for checks); the two are index-aligned, and stay
    so."""
    omit = omitted_rows(protected, spec)
    if spec.unpublished:
        protected = protected.drop(columns=list(spec.unpublished))
    if not omit.any():
        return visible, protected
    return visible[~omit].reset_index(drop=True), protected[~omit].reset_index(drop=True)


def _control(frame, model, gov, resolve, followed):
    """(visible rows, every row protected - withheld ones too, as a followed table needs them,
    which rows are visible)."""
    if resolve is None:
        resolve = policy_resolver(gov)[0]
    frame = frame.reset_index(drop=True)
    withheld = _withheld(frame, model, permitted_orgs(gov, model.output))
    protected = protect(frame, model.spec, resolve, withheld=withheld, followed=followed)
    keep = ~withheld
    return frame[keep].reset_index(drop=True), protected, keep


def control_all(
    frames: dict[str, pd.DataFrame],
    models: list[PublishedModel],
    gov: Governance,
    resolve=None,
    carry: Carry | None = None,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """`control` for every published model, each after the tables its spec follows (so that a
    rate here is hidden wherever what it would reveal is hidden there): name -> (visible rows,
    those rows disclosure-controlled).

    With `carry` (pipelines.publish.carry), a table whose relations all lie within a period is
    controlled period by period, and a period controlled by an earlier publication with the
    same rows, policies and code is taken from the hub's disclosure cache: the same rows."""
    if resolve is None:
        resolve = policy_resolver(gov)[0]
    by_name = {m.name: m for m in models}
    whole: dict[str, pd.DataFrame] = {}
    keys: dict[str, dict[str, tuple[str, int]] | None] = {}
    out: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for name in protection_order({m.name: m.spec for m in models}):
        m = by_name[name]
        followed = {f.table: whole[f.table] for f in m.spec.follows}
        keys[name] = None
        if carry is not None and by_period(m.spec) and len(frames[name]):
            leaders = {f.table: keys[f.table] for f in m.spec.follows}
            permitted = permitted_orgs(gov, m.output)
            if all(k is not None for k in leaders.values()):
                keys[name] = carry.keys(
                    m.view, m.spec, permitted, leaders, [str(t) for t in frames[name].dtypes]
                )
        if keys[name] is None:
            visible, protected, keep = _control(frames[name], m, gov, resolve, followed)
        else:
            visible, protected, keep = _control_by_period(
                frames[name], m, permitted, resolve, followed, carry, keys[name]
            )
            if protected is None:  # the rows did not match their keys: control it whole
                keys[name] = None
                carry.tables.pop(m.view, None)
                visible, protected, keep = _control(frames[name], m, gov, resolve, followed)
        whole[name] = protected
        out[name] = _published_rows(visible, protected[keep].reset_index(drop=True), m.spec)
    return out


def _control_by_period(
    frame,
    model,
    permitted: set[str],
    resolve,
    followed,
    carry: Carry,
    keys: dict[str, tuple[str, int]],
):
    """`_control`, one period at a time, each taken from `carry` where its key is stored
    (`permitted`: the organisations whose agreements give the audience the model's output).

    Only the controlled columns (controlled_columns) differ from the rows read, so a period
    taken from the cache is the rows read with those columns put in. Returns
    (visible, None, keep) when the frame's periods are not the keyed ones."""
    frame = frame.reset_index(drop=True)
    spec = model.spec
    keep = ~_withheld(frame, model, permitted)
    visible = frame[keep].reset_index(drop=True)
    codes, periods = pd.factorize(frame[PARTITION])
    parts = [(period, np.flatnonzero(codes == j)) for j, period in enumerate(periods)]
    if (
        (codes < 0).any()
        or set(periods) != set(keys)
        or any(len(rows) != keys[period][1] for period, rows in parts)
    ):
        return visible, None, keep
    n = len(frame)
    cells = {c: np.full(n, np.nan) for c in controlled_columns(spec)}
    cells[SUPPRESSED_COLUMN] = np.full(n, "", dtype=object)
    for period, rows in parts:
        key = keys[period][0]
        got = carry.load(model.name, period, key, spec, len(rows))
        if got is None:
            part = protect(
                frame.iloc[rows].reset_index(drop=True),
                spec,
                resolve,
                withheld=~keep[rows],
                followed={
                    table: leader[leader[PARTITION] == period]
                    for table, leader in (followed or {}).items()
                },
            )
            got = {
                c: part[c].to_numpy(dtype="float64", na_value=np.nan)
                if c != SUPPRESSED_COLUMN
                else part[c].to_numpy(dtype=object)
                for c in cells
            }
            carry.store(model.name, period, key, got)
        for c, values in got.items():
            cells[c][rows] = values
    protected = frame.copy()
    for c, values in cells.items():
        protected[c] = (
            pd.Series(values, index=protected.index, dtype="object")
            if c == SUPPRESSED_COLUMN
            else values
        )
    return visible, protected, keep


def record_blocked(paths: HubPaths, failed: list[dict], actor: str = "hub") -> None:
    """Log that a publication was held back, and by which checks."""
    with connect(paths) as wh:
        wh.execute("BEGIN TRANSACTION")
        audit.append(wh, "publication_blocked", actor=actor, detail={"failed_checks": failed[:50]})
        wh.execute("COMMIT")
        audit.write_head(paths, wh)


def _withheld(frame: pd.DataFrame, model: PublishedModel, allowed: set[str]) -> np.ndarray:
    """Rows about an organisation whose agreements do not permit the output."""
    withheld = np.zeros(len(frame), dtype=bool)
    for col in model.spec.org_columns:
        if col in frame.columns:
            is_org = ~frame[col].isin(["SYSTEM", "ALL_ORGANISATIONS"])
            withheld |= (is_org & ~frame[col].isin(allowed)).to_numpy()
    return withheld


def suppressed_cells(suppressed: pd.Series) -> int:
    """How many cells a `suppressed` column names (counted once per distinct text)."""
    return int(sum(len(s.split(",")) * n for s, n in suppressed.value_counts().items() if s))


def _write_csv(
    frame: pd.DataFrame,
    spec: TableSpec,
    path: Path,
    carry: Carry | None = None,
    model: PublishedModel | None = None,
) -> None:
    """The table as CSV, suppressed cells marked. With `carry` holding keys for the model's
    periods (rows in period order), each period's lines are written once and carried forward
    like its controlled cells: a line depends only on its row, so the file is the same."""
    csv = frame.copy()
    for col in spec.measures:
        if col in csv.columns:
            marked = naming(csv[SUPPRESSED_COLUMN], [col])
            if col in spec.counts:
                # A count is a whole number: 10, not 10.0.
                csv[col] = csv[col].round().astype("Int64")
            csv[col] = csv[col].astype(object)
            csv.loc[marked, col] = CSV_MARKER
    keys = carry.tables.get(model.view) if carry is not None and model is not None else None
    if keys:
        codes, periods = pd.factorize(csv[PARTITION])
    if not keys or (codes < 0).any() or (np.diff(codes) < 0).any():
        csv.to_csv(path, index=False)
        return
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(csv.iloc[:0].to_csv(index=False))
        for j, period in enumerate(periods):
            key = keys.get(period, (None, 0))[0]
            body = carry.csv_body(model.name, period, key) if key else None
            if body is None:
                body = csv[codes == j].to_csv(index=False, header=False)
                if key:
                    carry.store_csv_body(model.name, period, key, body)
            fh.write(body)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _point_latest(root: Path, version: str) -> None:
    tmp = root / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(version)
    os.replace(tmp, root / "latest")


def _dictionary(
    models: list[PublishedModel],
    by_org: dict[str, Policy],
    default: Policy,
    withheld: dict[str, list[str]] | None = None,
    not_in_force: list[tuple[str, str, int]] | None = None,
) -> str:
    lines = [
        "# Published tables - data dictionary",
        "",
        "Generated from the dbt documentation of the published models.",
        "",
        "## Disclosure control",
        "",
        f"Below system level: a count of 0 stays 0, a count of 1 to {default.suppress_max} is suppressed,"
        f" every other count is rounded to the nearest {default.round_to}, unless an organisation's"
        " agreement is stricter (below). Magnitudes built on people (FTE, days) are rounded the same"
        " way and suppressed with their cell. A rate or share built on a suppressed count is"
        " suppressed; below system level every other rate or share is worked out from the"
        " rounded cells it is published with (the leaver rate from the row's rounded leavers and"
        " headcounts; a share from the rounded cell over the organisation's rounded total), so"
        " it can differ from the exact rate by the rounding, and tells nothing the cells do not."
        " Where cells add up to a published total, a second cell is suppressed so that"
        " no suppressed cell can be recovered by subtraction. Suppressed cells are NULL in DuckDB"
        f" and Parquet, '{CSV_MARKER}' in CSV, and listed in each row's `{SUPPRESSED_COLUMN}` column"
        f" (in pandas, `pd.read_csv(path, na_values=['{CSV_MARKER}'])` reads them as missing and the"
        " columns as numbers; without it a column holding one is read as text)."
        " System-level rows are exact, except a cell suppressed because it would give an"
        " organisation's away (a group only one organisation has, an organisation whose"
        " figures are not published, or a small total whose other organisations all have 0,"
        " which would pin the hidden ones). Rows about an organisation whose agreements do not give"
        f" {AUDIENCE} a table are not published (each table names them below); that"
        " organisation is still counted in the system rows.",
        "",
        "| organisation | suppress 1 to | round to |",
        "|---|---|---|",
    ]
    lines += [f"| {org} | {p.suppress_max} | {p.round_to} |" for org, p in sorted(by_org.items())]
    if not_in_force:
        lines += [
            "",
            "## Submissions not used",
            "",
            "Accepted earlier, but no agreement in force on the day of the build covers them any"
            " more (an agreement ended, suspended, past its end date, or no longer listing the"
            " extract or the organisation, or the organisation no longer in the registry): they"
            " are in no table, the system rows included. They are kept, and used"
            " again if an agreement comes back into force.",
            "",
            "| organisation | extract | submissions |",
            "|---|---|---|",
        ]
        lines += [f"| {org} | {extract} | {n} |" for org, extract, n in not_in_force]
    for m in models:
        lines += [
            "",
            f"## {m.name}",
            "",
            m.description,
            "",
            f"Output (agreements): `{m.output}`",
            "",
        ]
        if (withheld or {}).get(m.name):
            lines += [
                f"Rows not published for: {', '.join(withheld[m.name])} (their agreements do not"
                f" give {AUDIENCE} `{m.output}`; counted in the system rows).",
                "",
            ]
        lines += [
            "| column | description |",
            "|---|---|",
        ]
        lines += [f"| `{c}` | {d} |" for c, d in m.columns.items() if c not in m.spec.unpublished]
        lines.append(
            f"| `{SUPPRESSED_COLUMN}` | The row's suppressed columns, comma-separated (empty: none). |"
        )
    return "\n".join(lines) + "\n"


def _report(
    version: str,
    staging: Path,
    submissions: list,
    withheld: dict[str, list[str]] | None = None,
    not_in_force: list[tuple[str, str, int]] | None = None,
) -> str:
    """report.md: every figure read from the published tables (a suppressed cell as [c]),
    each system rate with the organisations it is of."""
    withheld = withheld or {}
    con = duckdb.connect(str(staging / "published.duckdb"), read_only=True)
    try:
        latest = con.execute("SELECT max(period) FROM workforce_in_post").fetchall()[0][0]

        def cell(table, column, where, style):
            return _system_cell(con, table, column, where, latest, style)

        turnover = (
            "window_months = 12 AND staff_group = 'ALL' AND method = 'nhs_average_headcount'"
            " AND level = "
        )
        stability = "staff_group = 'ALL' AND level = "
        system_all = "level = 'system' AND staff_group = 'ALL'"
        total = "level = 'system' AND dimension = 'total'"
        figures = {
            "headcount": cell("workforce_in_post", "headcount", total, "count"),
            "fte": cell("workforce_in_post", "fte", total, "fte"),
            "leavers_org": cell(
                "turnover", "leaver_rate", turnover + "'all_organisations'", "percent"
            ),
            "leavers_sys": cell("turnover", "leaver_rate", turnover + "'system'", "percent"),
            "stability_org": cell(
                "stability", "stability_index", stability + "'all_organisations'", "percent"
            ),
            "stability_sys": cell(
                "stability", "stability_index", stability + "'system'", "percent"
            ),
            "vacancy": cell("vacancies", "vacancy_rate", system_all, "percent"),
            "sickness": cell("sickness_absence", "sickness_rate", system_all, "percent"),
            "temporary": cell(
                "temporary_staffing", "temporary_share_of_fte", system_all, "percent"
            ),
        }
        counts = con.execute(
            "SELECT table_name, estimated_size FROM duckdb_tables() ORDER BY table_name"
        ).fetchall()
        # Who sent each extract for the month: whose figure each system rate is (vacancy
        # rates also need the month's census), and which organisations a table withholds.
        sent: dict[str, set[str]] = {}
        for _, org, extract, period, _ in submissions:
            if period == latest:
                sent.setdefault(extract, set()).add(org)
        by_org = _by_organisation(con, latest, withheld, sent) if latest else []
    finally:
        con.close()

    census = sent.get("staff_in_post", set())

    def coverage(*extracts: str) -> str:
        if not census:
            return ""
        n = len(census.intersection(*(sent.get(e, set()) for e in extracts)))
        return f" ({n} of {len(census)} organisations: those that sent {extracts[0].replace('_', ' ')})"

    lines = [
        f"# Workforce publication {version}",
        "",
        f"Latest census: {latest}. Built from {len(submissions):,} accepted submissions (listed in"
        " manifest.json).",
        "",
    ]
    if not_in_force:
        orgs = sorted({org for org, _, _ in not_in_force})
        lines += [
            f"Not used: {sum(n for *_, n in not_in_force):,} accepted submissions of"
            f" {', '.join(orgs)}, which no agreement in force today covers (data_dictionary.md,"
            " 'Submissions not used'); they are in no figure below, the system's included.",
            "",
        ]
    lines += [
        "## System headline",
        "",
        f"- Headcount: {figures['headcount']} people; FTE {figures['fte']}",
        f"- 12-month leaver rate: {figures['leavers_org']} leaving their organisation,"
        f" {figures['leavers_sys']} leaving the system",
        f"- Stability (12 months): {figures['stability_org']} organisation,"
        f" {figures['stability_sys']} system",
        f"- Vacancy rate at {latest}: {figures['vacancy']}" + coverage("vacancies"),
        f"- Sickness absence rate in {latest} (the month): {figures['sickness']}"
        + coverage("sickness_absence"),
        f"- Bank and agency, share of FTE at {latest}: {figures['temporary']}"
        + coverage("temporary_staffing"),
        "",
        "`[c]`: suppressed (disclosure control); n/a: not in the tables (a 12-month figure needs"
        " a census 12 months earlier).",
        "",
        "## Tables",
        "",
    ]
    lines += [f"- `{name}` ({rows:,} rows)" for name, rows in counts]
    lines += ["", "Organisation-level figures are disclosure-controlled: see data_dictionary.md."]
    if by_org:
        lines += ["", f"## By organisation, {latest}", "", *REPORT_BY_ORGANISATION_NOTES, ""]
        lines.append("| " + " | ".join(c.heading for c in REPORT_COLUMNS) + " |")
        lines.append("|---" + "|---:" * (len(REPORT_COLUMNS) - 1) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in by_org]
    return "\n".join(lines) + "\n"


def _system_cell(
    con: duckdb.DuckDBPyConnection, table: str, column: str, where: str, period, style: str
) -> str:
    """One headline figure as published: [c] where the cell is suppressed, n/a where the table
    has no such row or no value."""
    rows = con.execute(
        f"SELECT {column}, {SUPPRESSED_COLUMN} FROM {table} WHERE period = $p AND {where}",  # noqa: S608
        {"p": period},
    ).fetchall()  # names and conditions are constants of _report; the period is bound
    if not rows:
        return "n/a"
    value, suppressed = rows[0]
    if column in (suppressed or "").split(","):
        return CSV_MARKER
    figure = _report_figure(value, style)
    return "n/a" if figure == "-" else figure


@dataclass(frozen=True)
class ReportColumn:
    """One figure of the report's table by organisation, read from a published table."""

    heading: str
    table: str
    column: str
    where: str  # fixed SQL: which row of the table holds the figure (besides period, level, org)
    style: str  # "count", "fte" or "percent"
    extract: str = "staff_in_post"  # what an organisation must send to have this figure


REPORT_COLUMNS = (
    ReportColumn("organisation", "", "", "", ""),
    ReportColumn("headcount", "workforce_in_post", "headcount", "dimension = 'total'", "count"),
    ReportColumn("FTE", "workforce_in_post", "fte", "dimension = 'total'", "fte"),
    ReportColumn(
        "leaver rate, 12 months",
        "turnover",
        "leaver_rate",
        "window_months = 12 AND staff_group = 'ALL' AND method = 'nhs_average_headcount'",
        "percent",
    ),
    ReportColumn(
        "stability, 12 months", "stability", "stability_index", "staff_group = 'ALL'", "percent"
    ),
    ReportColumn(
        "vacancy rate", "vacancies", "vacancy_rate", "staff_group = 'ALL'", "percent", "vacancies"
    ),
    ReportColumn(
        "sickness absence rate",
        "sickness_absence",
        "sickness_rate",
        "staff_group = 'ALL'",
        "percent",
        "sickness_absence",
    ),
    ReportColumn(
        "bank and agency, share of FTE",
        "temporary_staffing",
        "temporary_share_of_fte",
        "staff_group = 'ALL'",
        "percent",
        "temporary_staffing",
    ),
    ReportColumn(
        "BME, share of headcount",
        "equality",
        "share_of_headcount",
        "dimension = 'wres_group' AND dimension_value = 'BME'",
        "percent",
    ),
    ReportColumn(
        "aged 55 and over",
        "age_profile",
        "share_of_headcount",
        "dimension = 'aged_55_and_over' AND dimension_value = 'Y'",
        "percent",
    ),
)

REPORT_BY_ORGANISATION_NOTES = (
    "The published figures, as in the tables: `[c]` is a suppressed cell, `-` a figure not"
    " reported (no such extract, or nothing to divide by), `n/p` a figure not published for"
    " that organisation because its agreements do not give planners that table (it sent the"
    " extract, so it is counted in the system row). Organisation rows are disclosure-controlled; the system row"
    " is exact unless marked `[c]` (suppressed where it would give away an organisation's"
    " figure). An organisation's FTE is rounded as its counts are, so it is shown without a"
    " decimal place. Leaver rate: leavers in 12 months /"
    " average of the headcounts at the start and the end (NHS method, for every organisation;"
    " the turnover table also has the Skills for Care method for social care). The system row"
    " counts a move between organisations as staying, in its leaver rate and its stability.",
)


def _by_organisation(
    con: duckdb.DuckDBPyConnection,
    period: str,
    withheld: dict[str, list[str]] | None = None,
    sent: dict[str, set[str]] | None = None,
) -> list[list[str]]:
    """The report's table by organisation: the system first, then every organisation with a
    figure in any of its columns at `period` (one that sent only vacancies is listed too);
    each cell as published (a suppressed cell shows as [c]), n/p where the table leaves out
    an organisation that sent the column's extract for `period` (`withheld`: table ->
    organisations its agreements keep out of it; `sent`: extract -> organisations that sent
    it for the period); one that did not send it has no figure, `-`, and is not in the
    system row."""
    cells: dict[tuple[str, str], str] = {}
    for c in REPORT_COLUMNS[1:]:
        sql = (
            f"SELECT org_code, {c.column}, {SUPPRESSED_COLUMN} FROM {c.table}"  # noqa: S608
            f" WHERE period = $p AND level IN ('organisation', 'system') AND {c.where}"
        )  # names and conditions are the constants above; the period is bound
        for org, value, suppressed in con.execute(sql, {"p": period}).fetchall():
            style = c.style
            if style == "fte" and org != "SYSTEM" and value is not None and value == int(value):
                # Rounded like a count below system level (to the nearest 5 under the usual
                # policy): "90", not "90.0", which would claim a precision it does not have.
                style = "count"
            cells[(c.heading, org)] = (
                "[c]" if c.column in (suppressed or "").split(",") else _report_figure(value, style)
            )
    orgs = sorted({org for _, org in cells} - {"SYSTEM"})
    for c in REPORT_COLUMNS[1:]:
        for org in (withheld or {}).get(c.table, ()):
            if sent is None or org in sent.get(c.extract, ()):
                cells[(c.heading, org)] = "n/p"
    return [
        [org] + [cells.get((c.heading, org), "-") for c in REPORT_COLUMNS[1:]]
        for org in ["SYSTEM", *orgs]
    ]


def _report_figure(value, style: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    # Halves away from zero, as the tables round (round_decimals): Python's format rounds
    # 6.25 to "6.2".
    if style == "percent":
        return f"{round_decimals([value * 100], 1)[0]:.1f}%"
    if style == "fte":
        return f"{round_decimals([value], 1)[0]:,.1f}"
    return f"{round_decimals([value], 0)[0]:,.0f}"


# -- reading publications -------------------------------------------------------------------


def list_publications(paths: HubPaths) -> list[dict]:
    root = publications_dir(paths)
    if root.exists() and not root.is_dir():
        # Not "no publications yet": whatever planners had is not where it should be.
        raise OwfError(
            f"{root} is a file, not the publications folder: move it away (and put back the"
            " publications folder, if it was moved) and list again"
        )
    latest = os.readlink(root / "latest") if (root / "latest").is_symlink() else None
    out = []
    for folder in (
        sorted(
            p
            for p in root.glob("*")
            if p.is_dir() and not p.name.startswith(".") and p.name != "latest"
        )
        if root.exists()
        else []
    ):
        entry = {"latest": folder.name == latest, "path": folder}
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            entry |= {
                "version": manifest["version"],
                "created_at": manifest["created_at"],
                "submissions": len(manifest["submissions"]),
                "tables": len(manifest["tables"]),
                "checks_passed": sum(1 for c in manifest["checks"] if c.get("passed")),
                "checks": len(manifest["checks"]),
            }
        except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Listed, not skipped: a publication that vanished from the list would look as if
            # it had never been made.
            problem = "missing" if isinstance(exc, FileNotFoundError) else "unreadable"
            entry |= {"version": folder.name, "damaged": f"manifest.json {problem}"}
        out.append(entry)
    return out


def load_manifest(paths: HubPaths, version: str | None) -> dict:
    """A publication's manifest.json (`version`: a folder name under publications/, or
    "latest"); an unknown version or an unreadable manifest is an OwfError naming it and what
    to do."""
    root = publications_dir(paths)
    if version is not None and not version.strip():
        raise OwfError("the version given is empty: give one from `owf publications list`")
    name = version or "latest"
    folder = root / name
    path = folder / "manifest.json"
    if "/" not in name and not name.startswith(".") and folder.is_dir() and not path.is_file():
        raise OwfError(
            f"publication {name} in {root} has no manifest.json: it was changed or damaged"
            " after publishing (`owf publications list` shows it as DAMAGED); use another"
            " version, or run `owf publish` to make a new one"
        )
    if "/" in name or name.startswith(".") or not path.is_file():
        known = [p["version"] for p in list_publications(paths)]
        if not known:
            raise OwfError(f"no publications in {root} yet: run `owf publish` to make one")
        raise OwfError(
            f"no publication {name} in {root} (publications: {', '.join(known)});"
            " `owf publications list` shows them"
        )
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise OwfError(
            f"publication {name} has an unreadable manifest.json ({path}: {exc}):"
            " it was changed or damaged after publishing; use another version"
            " (`owf publications list`) or run `owf publish` to make a new one"
        ) from None


def version_order(version: str) -> tuple[str, int]:
    """Publication versions in the order they were made: the UTC stamp, then the number
    _new_version adds for a second publication in the same second (-2, -3, ... -10)."""
    stamp, _, n = version.partition("Z-")
    return (stamp.rstrip("Z"), int(n) if n.isdigit() else 1)


def diff_publications(paths: HubPaths, old: str, new: str) -> dict:
    a, b = load_manifest(paths, old), load_manifest(paths, new)
    sa = {s["submission_id"]: s for s in a["submissions"]}
    sb = {s["submission_id"]: s for s in b["submissions"]}
    return {
        "from": a["version"],
        "to": b["version"],
        # Given the later one first: what changed going back (the caller says so).
        "reversed": version_order(a["version"]) > version_order(b["version"]),
        "same": a["version"] == b["version"],
        "submissions_added": sorted(
            f"{s['org_code']} {s['extract']} {s['period']}" for k, s in sb.items() if k not in sa
        ),
        "submissions_removed": sorted(
            f"{s['org_code']} {s['extract']} {s['period']}" for k, s in sa.items() if k not in sb
        ),
        "tables": {
            t: {
                "rows": (a["tables"].get(t, {}).get("rows"), b["tables"].get(t, {}).get("rows")),
                "changed": a["tables"].get(t, {}).get("parquet_sha256")
                != b["tables"].get(t, {}).get("parquet_sha256"),
            }
            for t in sorted(a["tables"].keys() | b["tables"].keys())
        },
        "standard_version": (a["standard_version"], b["standard_version"]),
        "code_version": (a["code_version"].get("git_commit"), b["code_version"].get("git_commit")),
    }
