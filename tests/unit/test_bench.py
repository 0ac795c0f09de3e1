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


def test_markdown_table_has_every_workload_ratio_and_stages():
    results = [summarise("W1", runs(10.0, 12.0)), summarise("W2", runs(50.0, 70.0))]
    text = markdown(results, {"date": "2026-11-24 12:00", "machine": "x86_64, 2 cores"})
    assert "| W1: " in text and "| W2: " in text
    assert "W2 / W1 = 5.5" in text
    assert "W2 stages (median over runs, seconds): load 30.00, rest 30.00" in text


def test_peak_sampler_counts_children_apart_from_the_process_itself():
    """dbt runs as a child: its memory counts in the sampled total, not in this process's own
    high-water mark."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    import pytest

    from pipelines.bench.worker import PeakSampler, _status_kb

    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux /proc")
    child_code = "b = bytearray(300 * 1024 * 1024); import time; time.sleep(1.0)"
    with PeakSampler() as sampler:
        subprocess.run([sys.executable, "-c", child_code], check=True)
        time.sleep(0.2)
    own_mb = _status_kb("self", "VmHWM") / 1024
    assert sampler.peak_kb / 1024 >= 300, sampler.peak_kb
    assert own_mb < sampler.peak_kb / 1024  # the child's 300 MB is not this process's
