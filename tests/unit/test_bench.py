"""The benchmark's reporting: medians, spread, targets and the W2 / W1 ratio (no heavy runs)."""

from pipelines.bench.__main__ import _met, markdown, summarise


def runs(*seconds, rows=None, peak=100.0):
    out = []
    for s in seconds:
        r = {"seconds": s, "peak_rss_mb": peak, "stages": {"load": s / 2, "rest": s / 2}}
        if rows:
            r["rows"] = rows
        out.append(r)
    return out


def test_summary_is_median_spread_and_peak():
    s = summarise("W1", runs(3.0, 1.0, 2.0, peak=250.0))
    assert (s["median_seconds"], s["min_seconds"], s["max_seconds"]) == (2.0, 1.0, 3.0)
    assert s["peak_rss_mb"] == 250.0 and s["runs"] == 3


def test_targets_use_the_ratio_of_the_same_run_and_the_memory_cap():
    w1 = summarise("W1", runs(10.0))
    fast = summarise("W2", runs(39.0, peak=3000.0))
    slow = summarise("W2", runs(41.0, peak=3000.0))
    heavy = summarise("W2", runs(39.0, peak=5000.0))
    assert _met(fast, {"W1": w1})[1] == "yes"
    assert _met(slow, {"W1": w1})[1] == "no: time no (4.1 x W1), memory yes"
    assert _met(heavy, {"W1": w1})[1] == "no: time yes (3.9 x W1), memory no"
    assert _met(fast, {})[1] == "(W1 not run)"
    assert _met(summarise("W3", runs(14.0)), {})[1] == "yes"
    assert _met(summarise("W3", runs(16.0)), {})[1] == "no"
    assert _met(summarise("W4", runs(0.4, rows=100_000)), {})[1] == "yes"
    assert _met(summarise("W4", runs(1.0, rows=100_000)), {})[1] == "no"
    assert _met(summarise("W5", runs(4.0, rows=100_000)), {}) == ("", "")  # measured, no target
    assert _met(summarise("W6", runs(45.0)), {}) == ("", "")
    assert _met(summarise("W7", runs(14.0)), {}) == ("<= 15 s", "yes")  # W3's target
    assert _met(summarise("W7", runs(16.0)), {})[1] == "no"


def test_next_month_inputs_without_w7_s_resubmission_are_made_again(tmp_path):
    from pipelines.bench.national import _forget_unless_resubmission

    base = tmp_path / "nextmonth"
    (base / "resubmission").mkdir(parents=True)
    (base / "ready.json").write_text("{}")
    _forget_unless_resubmission(base)
    assert not (base / "ready.json").exists()  # made before W7: prepared again
    (base / "ready.json").write_text("{}")
    (base / "resubmission" / "N0001_staff_in_post_2026-09_x.owfpkg").write_bytes(b"x")
    _forget_unless_resubmission(base)
    assert (base / "ready.json").exists()  # ready: kept


def test_markdown_table_has_every_workload_ratio_and_stages():
    results = [summarise("W1", runs(10.0, 12.0)), summarise("W2", runs(50.0, 70.0))]
    text = markdown(results, {"date": "2026-11-24 12:00", "machine": "x86_64, 2 cores"})
    assert "| W1: " in text and "| W2: " in text
    assert "W2 / W1 = 5.5" in text
    assert "W2 stages (median over runs, seconds): load 30.00, rest 30.00" in text
    nextmonth = results + [summarise("W6", runs(75.0))]
    assert "W6 / W2 = 1.25" in markdown(nextmonth, {"date": "", "machine": ""})


def test_peak_sampler_counts_children_apart_from_the_process_itself():
    """dbt runs as a child: its memory counts in the sampled total, not in this process's own
    high-water mark. Measured in a fresh process, as a bench worker is: a pytest worker's own
    high-water mark is whatever the test files before this one left (1.1 GB once, above the
    sampled total, which failed the test on a fresh clone)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux /proc")
    probe = """
import json, subprocess, sys, time
from pipelines.bench.worker import PeakSampler, _status_kb
child = "b = bytearray(300 * 1024 * 1024); import time; time.sleep(1.0)"
with PeakSampler() as sampler:
    subprocess.run([sys.executable, "-c", child], check=True)
    time.sleep(0.2)
print(json.dumps({"peak_kb": sampler.peak_kb, "own_kb": _status_kb("self", "VmHWM")}))
"""
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    measured = json.loads(run.stdout.splitlines()[-1])
    peak_mb, own_mb = measured["peak_kb"] / 1024, measured["own_kb"] / 1024
    assert peak_mb >= 300, measured
    assert own_mb < 300 < peak_mb  # the child's 300 MB is not this process's
