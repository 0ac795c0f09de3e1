"""The dbt project's own rules, read from its manifest (dbt parse), and its generated files."""

from __future__ import annotations

import json

import pytest

from pipelines.transform.dbt_files import stale_files
from pipelines.transform.project import parse


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(parse(force=True).read_text())


def _models(manifest):
    return {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model"}


def test_generated_sources_and_seed_properties_are_up_to_date():
    assert stale_files() == [], "run `owf models generate` and commit the result"


def test_owf_models_generate_writes_only_what_differs_and_each_file_whole(tmp_path, monkeypatch):
    """Into a copy (the project's own files are not touched): a file that is stale or
    missing is written, one that is up to date is left alone, and no dotfile is left."""
    from pipelines.transform import dbt_files

    expected = dbt_files.expected_files()
    want_sources, want_seeds = expected[dbt_files.SOURCES], expected[dbt_files.SEEDS]
    sources, seeds = tmp_path / "sources.yml", tmp_path / "seeds.yml"
    monkeypatch.setattr(dbt_files, "SOURCES", sources)
    monkeypatch.setattr(dbt_files, "SEEDS", seeds)
    sources.write_text("stale\n")
    assert dbt_files.write_files() == [sources, seeds]
    assert (sources.read_text(), seeds.read_text()) == (want_sources, want_seeds)
    assert dbt_files.write_files() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seeds.yml", "sources.yml"]


def test_only_staging_models_read_sources(manifest):
    for node in _models(manifest).values():
        if node["depends_on"]["nodes"] and any(
            d.startswith("source.") for d in node["depends_on"]["nodes"]
        ):
            layer = node["fqn"][1]
            allowed = layer == "staging" or node["name"] in ("fct_turnover", "fct_data_quality")
            assert allowed, f"{node['name']} reads a source directly"


def test_marts_read_registry_sources_only(manifest):
    # Two marts read the governance registry (not record-level data): nothing else skips staging.
    for node in _models(manifest).values():
        sources = [d for d in node["depends_on"]["nodes"] if d.startswith("source.")]
        if node["fqn"][1] != "staging":
            assert all(".governance." in s for s in sources), (node["name"], sources)


def test_every_model_has_a_description_and_a_test(manifest):
    tested = set()
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test":
            tested.update(node["depends_on"]["nodes"])
    for ut in manifest.get("unit_tests", {}).values():
        tested.update(ut["depends_on"]["nodes"])
    for key, node in _models(manifest).items():
        assert node["description"].strip(), f"{node['name']} has no description"
        assert key in tested, f"{node['name']} has no data or unit test"


def test_marts_have_enforced_contracts_and_documented_columns(manifest):
    for node in _models(manifest).values():
        if node["fqn"][1] != "marts":
            continue
        assert node["config"]["contract"]["enforced"], node["name"]
        assert node["columns"], node["name"]
        for name, col in node["columns"].items():
            assert col["description"].strip(), f"{node['name']}.{name} undocumented"
            assert col["data_type"], f"{node['name']}.{name} has no data type"


def test_every_metric_mart_has_a_unit_test(manifest):
    unit_tested = {ut["model"] for ut in manifest.get("unit_tests", {}).values()}
    marts = {n["name"] for n in _models(manifest).values() if n["fqn"][1] == "marts"}
    assert marts <= unit_tested, marts - unit_tested


def test_no_data_tests_use_the_old_tests_key(manifest):
    from pathlib import Path

    import yaml

    for path in Path("dbt_project/models").rglob("*.yml"):
        doc = yaml.safe_load(path.read_text()) or {}
        for model in doc.get("models", []):
            assert "tests" not in model, path
            for col in model.get("columns", []):
                assert "tests" not in col, (path, col["name"])


def test_a_parse_never_shows_a_half_written_manifest_to_another_process():
    """Under `make dev` every process that loads the definitions (each run, each step) may
    parse: a run that read target/manifest.json while another process's dbt was rewriting it
    failed to load ("JSONDecodeError ... char 866144"), and its packages stayed in the inbox.
    Readers must only ever see a whole manifest."""
    import subprocess
    import sys
    import time

    from pipelines.transform.project import MANIFEST

    parse()
    # One forced parse in each of two processes: before the fix about one read in twenty
    # (39 of 715, with three parses each) saw a torn manifest, so this fails every time.
    code = "from pipelines.transform.project import parse\nparse(force=True)"
    writers = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    torn = 0
    reads = 0
    while any(w.poll() is None for w in writers):
        try:
            json.loads(MANIFEST.read_text())
        except (json.JSONDecodeError, FileNotFoundError):
            torn += 1
        reads += 1
        time.sleep(0.005)
    assert [w.returncode for w in writers] == [0, 0]
    assert reads > 10 and torn == 0, f"{torn} of {reads} reads saw no whole manifest"


def test_owf_dbt_is_dbt_without_the_wait_at_exit(tmp_path):
    """Builds run dbt through owf-dbt (pipelines/transform/dbt_main.py), which skips Python's
    interpreter shutdown after the command. It must still be dbt in everything a caller or a
    later reader sees: the exit status (a usage error, a failed command, a success), every
    line of output, and the warehouse closed as dbt leaves it - checkpointed, no WAL left
    behind (dbt-duckdb closes it in an exit handler, which a bare os._exit would skip)."""
    import csv
    import subprocess
    from pathlib import Path

    import duckdb

    from pipelines.paths import PROJECT_ROOT
    from pipelines.transform.project import DBT_DIR, dbt_env, dbt_executable

    owf_dbt = dbt_executable()
    assert Path(owf_dbt).name == "owf-dbt", "the project's own script is what builds run"
    plain_dbt = str(Path(owf_dbt).with_name("dbt"))

    def run(exe, *args):
        return subprocess.run(
            [exe, *args],
            cwd=DBT_DIR,
            env=dbt_env(tmp_path / "warehouse.duckdb"),
            capture_output=True,
            text=True,
            timeout=300,
        )

    usage = [run(exe, "no-such-command") for exe in (plain_dbt, owf_dbt)]
    assert [r.returncode for r in usage] == [2, 2]
    assert usage[1].stderr == usage[0].stderr and "No such command" in usage[1].stderr

    where = [
        "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
        "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "target"),
    ]  # fmt: skip
    seeded = run(owf_dbt, "seed", "--select", "gender", *where)
    assert seeded.returncode == 0, seeded.stdout[-3000:]
    # The summary is dbt's last line: it reached the pipe.
    last = seeded.stdout.rstrip().splitlines()[-1]
    assert "Done. PASS=" in last and " ERROR=0 " in last, last
    assert not (tmp_path / "warehouse.duckdb.wal").exists(), "the warehouse was not closed"
    with (PROJECT_ROOT / "governance/standard/codelists/gender.csv").open() as fh:
        codes = sorted(row["code"] for row in csv.DictReader(fh))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        table = con.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'gender'"
        ).fetchone()[0]
        stored = con.execute(f'SELECT code FROM "{table}".gender ORDER BY code').fetchall()
    assert [c for (c,) in stored] == codes

    failed = [
        run(exe, "show", "--inline", "select * from no_such_table", *where)
        for exe in (plain_dbt, owf_dbt)
    ]
    assert failed[1].returncode == failed[0].returncode != 0
    assert "no_such_table" in failed[1].stdout


def test_owf_dbt_exits_with_the_status_sys_exit_would_give(capsys):
    from pipelines.transform.dbt_main import _status

    assert [_status(None), _status(0), _status(1), _status(2)] == [0, 0, 1, 2]
    assert _status("dbt could not start") == 1
    assert capsys.readouterr().err == "dbt could not start\n"


def test_a_new_build_day_keeps_dbt_s_partial_parse(tmp_path):
    """The build step gives dbt its build day as OWF_AS_OF_DATE, which as_of_date() reads only
    when dbt runs the SQL: a later day re-parses nothing. As the var it was, every new day's
    first build parsed the whole project again (2.4 s); read while parsing, it re-parsed the
    six models that call the macro (0.8 s). The day the SQL gets is checked by the build
    tests (tests/integration/test_publish.py, the incremental build on the next day)."""
    import subprocess

    from pipelines.transform.project import DBT_DIR, dbt_env, dbt_executable

    def parse(day: str) -> str:
        log = tmp_path / f"log-{day}"
        result = subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--vars",
                json.dumps({"incremental_builds": True}),
                "--project-dir",
                str(DBT_DIR),
                "--profiles-dir",
                str(DBT_DIR),
                "--target-path",
                str(tmp_path / "target"),
                "--log-path",
                str(log),
                "--log-level-file",
                "debug",
            ],  # fmt: skip
            cwd=DBT_DIR,
            env=dbt_env(tmp_path / "warehouse.duckdb") | {"OWF_AS_OF_DATE": day},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-3000:]
        return (log / "dbt.log").read_text()

    assert "Starting full parse" in parse("2026-12-05")
    later = parse("2026-12-06")
    assert "Partial parsing enabled, no changes found, skipping parsing" in later
    assert "Partial parsing: updated file" not in later
