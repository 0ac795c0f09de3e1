"""The `owf` command line, run as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import valid_rows, write_csv

OWF = str(Path(sys.executable).parent / "owf")


def owf(*args, env=None, cwd=None, timeout=300):
    return subprocess.run(
        [OWF, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def test_validate_passes_a_valid_file(tmp_path):
    path = write_csv(tmp_path / "sip.csv", valid_rows("staff_in_post"))
    result = owf("standard", "validate", path, "--extract", "staff_in_post")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout


def test_validate_reports_failures_and_writes_json(tmp_path):
    rows = valid_rows("staff_in_post")
    rows[1]["person_id"] = "QQ999999Q"
    rows[2]["contract_type"] = "Perm"
    path = write_csv(tmp_path / "sip.csv", rows)
    report = tmp_path / "out" / "report.json"
    result = owf("standard", "validate", path, "-e", "staff_in_post", "--json", report)
    assert result.returncode == 1
    assert "row 3" in result.stdout and "[ni_number] field person_id" in result.stdout
    assert "QQ999999Q" not in result.stdout
    data = json.loads(report.read_text())
    assert data["ok"] is False and data["error_count"] == 2
    assert {(f["row"], f["field"], f["rule"]) for f in data["findings"]} == {
        (3, "person_id", "ni_number"),
        (4, "contract_type", "codelist"),
    }


def test_validate_unknown_extract_is_a_usage_error(tmp_path):
    path = write_csv(tmp_path / "sip.csv", valid_rows("staff_in_post"))
    result = owf("standard", "validate", path, "--extract", "staff")
    assert result.returncode == 2
    assert "unknown extract type 'staff'" in result.stderr


def test_validate_usage_problems_exit_2_and_write_nothing(tmp_path):
    """Found in review: a missing file or a folder was a failed extract (exit 1), and a
    malformed --org or --period made every row fail a rule; `owf submit check` and the
    README have them as usage problems (exit 2)."""
    path = write_csv(tmp_path / "sip.csv", valid_rows("staff_in_post"))
    for args, says in [
        ((tmp_path / "no-such.csv",), "does not exist"),
        ((tmp_path,), "is a folder"),
        ((path, "--org", "rw1x!"), "ODS code"),
        ((path, "--period", "2026-9"), "YYYY-MM"),
    ]:
        result = owf("standard", "validate", *args, "-e", "staff_in_post")
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert says in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["validate", "check"])
def test_a_report_is_never_written_over_the_file_it_reports_on(tmp_path, command):
    """Found in review: `--json` naming the input replaced the export with the report."""
    path = write_csv(tmp_path / "sip.csv", valid_rows("staff_in_post"))
    before = path.read_bytes()
    args = (
        ["standard", "validate", path, "-e", "staff_in_post"]
        if command == "validate"
        else ["submit", "check", path, "--org", "RW1", "-e", "staff_in_post", "--period", "2026-09"]
    )
    result = owf(*args, "--json", path, cwd=tmp_path)
    assert result.returncode == 2 and "the report would replace it" in result.stderr
    assert path.read_bytes() == before
    result = owf(*args, "--json", "sip.csv", cwd=tmp_path)  # the same file, named otherwise
    assert result.returncode == 2 and path.read_bytes() == before


def test_user_mistakes_found_in_review_are_messages_not_traces(tmp_path, governance_copy):
    """Found in review, each a Python trace: an unquoted impossible date in an agreement
    (every command reading the registry); a list holding itself through an alias (which
    kept `owf governance check` at full CPU for ten minutes); `owf hub init` on a file;
    `owf synth --seed -1`; and `--scale 0`, which wrote the sample unscaled."""
    agreement = governance_copy / "agreements" / "ISA-WV-001.yaml"
    text = agreement.read_text()
    agreement.write_text(text + "\nnotes_date: 2024-02-30\n")
    result = owf("governance", "check", "--governance", governance_copy, timeout=60)
    assert result.returncode == 1 and "[yaml_value]" in result.stdout + result.stderr
    assert "a date must be a real day" in result.stdout + result.stderr
    agreement.write_text(text + "\nloop: &a [*a]\n")
    result = owf("governance", "check", "--governance", governance_copy, timeout=60)
    assert result.returncode == 1 and "[yaml_alias]" in result.stdout + result.stderr
    (tmp_path / "a-file").write_text("")
    for args, says in [
        (("hub", "init", "--hub", tmp_path / "a-file"), "File exists"),
        (("synth", "--seed", "-1", "--out", tmp_path / "s"), "--seed must be"),
        (("synth", "--scale", "0", "--out", tmp_path / "s"), "a factor must be more than 0"),
    ]:
        result = owf(*args, timeout=60)
        assert result.returncode == 2 and says in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()


def test_a_key_file_others_can_read_is_one_line_of_warning(tmp_path):
    """Found in review: the warning came with Python's file, line number and line of code."""
    assert owf("keys", "generate", "system", "--out", tmp_path).returncode == 0
    key = tmp_path / "system-pseudonymisation.key"
    key.chmod(0o666)
    result = owf("keys", "register-system", "--key", key, "--governance", tmp_path / "none")
    [line] = [x for x in result.stderr.splitlines() if "other users" in x]
    assert line.startswith("warning: key file") and "chmod 600" in line
    assert ".py:" not in result.stderr and "KeyFilePermissionWarning" not in result.stderr


def test_standard_docs_check_passes():
    result = owf("standard", "docs", "--check")
    assert result.returncode == 0, result.stderr


def test_governance_check_on_a_broken_copy(governance_copy):
    path = governance_copy / "agreements/ISA-WV-002.yaml"
    path.write_text(path.read_text().replace("status: active", "status: live"))
    result = owf("governance", "check", "--governance", governance_copy, "--as-of", "2026-11-24")
    assert result.returncode == 1
    assert "ISA-WV-002.yaml, row 4, field status" in result.stdout
    ok = owf("governance", "check", "--as-of", "2026-11-24")
    assert ok.returncode == 0, ok.stdout


def test_demo_runs_end_to_end(tmp_path):
    # As `make demo` runs it: with a Dagster home that does not exist yet.
    # About three minutes alone on 2 cores; the timeout only stops a hang (a busy machine
    # once took it past 300 s).
    result = owf(
        "demo",
        "--home",
        tmp_path / "demo",
        env={"DAGSTER_HOME": str(tmp_path / "dagster_home")},
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "validated 1,320 files" in result.stdout and ": 0 failed" in result.stdout
    # Keys are registered by the demo itself: said once, not warned per organisation.
    assert "no_current_signing_key" not in result.stdout
    assert "11 organisations have no signing key registered yet" in result.stdout
    assert "RW1" in result.stdout and "HS101" in result.stdout
    assert (tmp_path / "demo" / "synth" / "manifest.json").exists()
    assert "System headline" in result.stdout and "leaving the system" in result.stdout
    assert (tmp_path / "dagster_home" / "dagster.yaml").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["hub", "ingest"],
        ["hub", "status"],
        ["quarantine", "list"],
        ["audit", "verify"],
        ["publish"],  # said "no warehouse: ingest some submissions first"
        ["publications", "list"],  # said "no publications yet", exit 0 (a folder holding
        # a copy of a hub's publications/ is still read: test_publish.py)
    ],
)
def test_a_hub_command_on_a_folder_with_no_hub_says_so_and_makes_nothing(tmp_path, command):
    """A mistyped --hub once got a new, empty hub (folders, a warehouse) and "nothing to
    ingest"."""
    typo = tmp_path / "hbu"
    result = owf(*command, "--hub", typo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"no hub at {typo}" in result.stderr and "owf hub init" in result.stderr
    assert not typo.exists()


def test_models_unit_test_without_a_warehouse_says_to_build_first(tmp_path):
    assert owf("hub", "init", "--hub", tmp_path / "hub").returncode == 0
    result = owf("models", "unit-test", "--hub", tmp_path / "hub")
    assert result.returncode != 0
    assert "no warehouse at" in result.stderr
    assert "owf models build, or make demo" in result.stderr.replace("\n", " ")
    assert not (tmp_path / "hub" / "warehouse.duckdb").exists()
    # A folder that is no hub (found in review: build said to ingest first, and ingest then
    # said there was no hub): every models command names `owf hub init`, and makes nothing.
    for command in ("build", "unit-test", "headline", "docs"):
        result = owf("models", command, "--hub", tmp_path / "no-hub")
        assert result.returncode == 2, (command, result.stderr)
        assert "no hub at" in result.stderr and "owf hub init" in result.stderr
    assert not (tmp_path / "no-hub").exists()


def test_keys_generate_writes_nothing_when_any_of_the_files_exists(tmp_path):
    """A pair is replaced whole or not at all: with the old private key moved aside, a new
    one must not be written beside the old public key."""
    assert owf("keys", "generate", "signing", "--org", "RW9", "--out", tmp_path).returncode == 0
    public = (tmp_path / "RW9-signing.pub").read_bytes()
    (tmp_path / "RW9-signing.key").rename(tmp_path / "old.key")
    result = owf("keys", "generate", "signing", "--org", "RW9", "--out", tmp_path)
    assert result.returncode == 2 and "nothing was written" in result.stderr
    assert not (tmp_path / "RW9-signing.key").exists()
    assert (tmp_path / "RW9-signing.pub").read_bytes() == public
    result = owf("keys", "generate", "signing", "--org", "../RW9", "--out", tmp_path / "k")
    assert result.returncode == 2 and "ODS code" in result.stderr
    assert not list(tmp_path.glob("*RW9-signing.key"))


def test_keys_commands_name_a_wrong_option_or_file_without_a_traceback(tmp_path):
    """--epoch -1 gave a ValueError traceback; --org for a hub key was silently ignored; a
    public key file given to export-public was called "not an X25519 hub encryption private
    key", though a signing key was what was meant."""
    for epoch in ("-1", "0", "2147483648", "99999999999999999999"):
        result = owf("keys", "generate", "system", "--out", tmp_path / "a", "--epoch", epoch)
        assert result.returncode == 2 and "--epoch must be from 1 to 2147483647" in result.stderr
        assert "Traceback" not in result.stderr
    # A key file edited to such an epoch is refused as damaged, not packaged under.
    assert owf("keys", "generate", "system", "--out", tmp_path / "c").returncode == 0
    key_file = tmp_path / "c" / "system-pseudonymisation.key"
    key_file.write_text(key_file.read_text().replace('"epoch": 1', '"epoch": 99999999999999999999'))
    result = owf("keys", "register-system", "--key", key_file, "--governance", tmp_path / "g")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "damaged or not a key file" in result.stderr
    # A --governance folder holding no registry: said, and nothing made there (a trace, and
    # a lock file, before).
    assert owf("keys", "generate", "system", "--out", tmp_path / "d").returncode == 0
    assert (
        owf("keys", "generate", "signing", "--org", "RW9", "--out", tmp_path / "d").returncode == 0
    )
    for command in (
        ["register-system", "--key", tmp_path / "d" / "system-pseudonymisation.key"],
        ["register", "--org", "RW9", "--public-key", tmp_path / "d" / "RW9-signing.pub"],
    ):
        result = owf("keys", *command, "--governance", tmp_path / "no-registry")
        assert result.returncode == 2 and "holds no registry" in result.stderr, result.stderr
        assert not (tmp_path / "no-registry").exists()
    result = owf("keys", "generate", "hub", "--out", tmp_path / "b", "--org", "RW1")
    assert result.returncode == 2 and "--org is for a signing key" in result.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert owf("keys", "generate", "signing", "--org", "RW9", "--out", tmp_path).returncode == 0
    result = owf("keys", "export-public", tmp_path / "RW9-signing.pub", "--out", tmp_path / "x")
    assert result.returncode == 2 and "holds an Ed25519 signing public key" in result.stderr
    assert "give an organisation's signing key (<ORG>-signing.key)" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x").exists()


def test_submit_check_usage_errors_are_messages_not_tracebacks(tmp_path):
    path = write_csv(tmp_path / "sip.csv", valid_rows("staff_in_post"))
    common = ["--org", "RW1", "--extract", "staff_in_post", "--period", "2026-09"]
    result = owf("submit", "check", path, *common, "--delimiter", ";;")
    assert result.returncode == 2 and "not a separator" in result.stderr
    assert "Traceback" not in result.stderr
    # A folder that can be made is made (as `owf standard validate` does); one under a file
    # cannot be.
    result = owf("submit", "check", path, *common, "--json", tmp_path / "new" / "r.json")
    assert result.returncode == 0 and (tmp_path / "new" / "r.json").exists(), result.stderr
    result = owf("submit", "check", path, *common, "--json", path / "r.json")
    assert result.returncode == 2 and "cannot write the report" in result.stderr
    assert "Traceback" not in result.stderr


def test_make_dev_puts_the_project_s_dagster_settings_in_place_keeping_an_old_copy(tmp_path):
    """`make dev` once copied dagster.yaml only where there was none, so a Dagster home made
    before `granularity: run` kept per-op pools (an ingest run could land between a publish
    run's build and its publication) for ever."""
    from pipelines.paths import PROJECT_ROOT

    home = tmp_path / "dagster_home"
    wanted = (PROJECT_ROOT / "dagster_instance.yaml").read_text()
    assert "python -m pipelines.defs.instance" in (PROJECT_ROOT / "Makefile").read_text()

    def install():  # what `make dev` runs before `dagster dev`
        return subprocess.run(
            [sys.executable, "-m", "pipelines.defs.instance"],
            capture_output=True,
            text=True,
            env={**os.environ, "DAGSTER_HOME": str(home)},
            timeout=120,
        )

    first = install()
    assert first.returncode == 0 and first.stdout == "", first.stderr
    assert (home / "dagster.yaml").read_text() == wanted

    old = wanted.replace("granularity: run", "granularity: op")
    (home / "dagster.yaml").write_text(old)
    again = install()
    assert again.returncode == 0, again.stderr
    assert (home / "dagster.yaml").read_text() == wanted
    assert (home / "dagster.yaml.previous").read_text() == old
    assert "replaced" in again.stdout and "dagster.yaml.previous" in again.stdout

    same = install()
    assert same.returncode == 0 and same.stdout == ""
    assert (home / "dagster.yaml.previous").read_text() == old


def test_the_project_holds_no_dagster_yaml_for_dagster_dev_to_warn_about():
    # `dagster dev` (make dev) warns on every start when the folder it runs in holds a
    # dagster.yaml or dagster.yml and DAGSTER_HOME is elsewhere: the file "will not be used".
    # The project's settings are dagster_instance.yaml, copied into DAGSTER_HOME.
    from pipelines.paths import PROJECT_ROOT

    assert (PROJECT_ROOT / "dagster_instance.yaml").exists()
    assert not [p.name for p in PROJECT_ROOT.glob("dagster.y*ml")]


def test_sheet_option_reads_a_named_worksheet_for_validate_and_submit_check(tmp_path):
    from openpyxl import Workbook

    rows = valid_rows("staff_in_post")
    book = Workbook()
    book.active.title = "Notes"
    data = book.create_sheet("Data")
    data.append(list(rows[0]))
    for r in rows:
        data.append(list(r.values()))
    path = tmp_path / "export.xlsx"
    book.save(path)
    first = owf("standard", "validate", path, "-e", "staff_in_post")
    assert first.returncode == 1 and "give --sheet 'Data'" in first.stdout
    named = owf("standard", "validate", path, "-e", "staff_in_post", "--sheet", "Data")
    assert named.returncode == 0, named.stdout + named.stderr
    check = owf(
        "submit", "check", path, "--org", "RW1", "-e", "staff_in_post", "--period", "2026-09",
        "--sheet", "Data",
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    csv_sheet = owf(
        "standard", "validate", write_csv(tmp_path / "s.csv", rows), "-e", "staff_in_post",
        "--sheet", "Data",
    )  # fmt: skip
    assert csv_sheet.returncode == 2 and "--sheet names a worksheet" in csv_sheet.stderr
