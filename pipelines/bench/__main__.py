"""`make bench`: benchmark workloads, each run several times in a fresh process.

    python -m pipelines.bench [--runs 5] [--only W4] [--out bench-results]

Every repetition runs in its own Python process (so peak memory is that run's own, and no
cache carries over), reports its wall time and peak resident memory, and the table gives the
median, the spread (min-max) and the peak memory over the repetitions. Results are written
as JSON and Markdown. Absolute times on a shared machine are noisy: compare ratios measured
in the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pipelines.bench import workloads

TARGETS = {
    "W2": ("s", "<=", "4 x W1"),  # a ratio, measured in the same run
    "W3": ("s", "<=", 15),
    "W7": ("s", "<=", 15),  # W3's: a resubmission on a hub in service, which holds months
    "W4": ("rows/s", ">=", 200_000),
}
PEAK_MB = {"W2": 4096}


def run_once(workload: str, workdir: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.bench.worker", workload, str(workdir)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{workload} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(name: str, runs: list[dict]) -> dict:
    seconds = [r["seconds"] for r in runs]
    out = {
        "workload": name,
        "description": workloads.DESCRIPTIONS[name],
        "runs": len(runs),
        "median_seconds": round(statistics.median(seconds), 3),
        "min_seconds": round(min(seconds), 3),
        "max_seconds": round(max(seconds), 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "detail": runs,
    }
    if all("rows" in r for r in runs):
        out["rows"] = runs[0]["rows"]
        out["median_rows_per_second"] = round(out["rows"] / out["median_seconds"])
    return out


def _met(result: dict, results: dict[str, dict]) -> tuple[str, str]:
    """(target text, met) for a workload."""
    name = result["workload"]
    target = TARGETS.get(name)
    if not target:
        return "", ""
    unit, op, value = target
    if name == "W2":
        if "W1" not in results:
            return "<= 4 x W1", "(W1 not run)"
        ratio = result["median_seconds"] / results["W1"]["median_seconds"]
        fast, small = ratio <= 4, result["peak_rss_mb"] <= PEAK_MB["W2"]
        met = (
            "yes"
            if fast and small
            else f"no: time {'yes' if fast else 'no'} ({ratio:.1f} x W1),"
            f" memory {'yes' if small else 'no'}"
        )
        return f"<= 4 x W1, peak <= {PEAK_MB['W2']:,} MB", met
    got = result.get("median_rows_per_second") if unit == "rows/s" else result["median_seconds"]
    ok = got is not None and ((got >= value) if op == ">=" else (got <= value))
    return f"{op} {value:,} {unit}", "yes" if ok else "no"


def markdown(results: list[dict], meta: dict) -> str:
    by_name = {r["workload"]: r for r in results}
    lines = [
        f"# Benchmark results ({meta['date']}, {meta['machine']})",
        "",
        "| workload | runs | median s | spread s | peak MB | throughput | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        thr = f"{r['median_rows_per_second']:,} rows/s" if "median_rows_per_second" in r else ""
        target, met = _met(r, by_name)
        lines.append(
            f"| {r['workload']}: {r['description']} | {r['runs']} | {r['median_seconds']:.2f} |"
            f" {r['min_seconds']:.2f}-{r['max_seconds']:.2f} | {r['peak_rss_mb']:.0f} | {thr} |"
            f" {target} | {met} |"
        )
    if "W1" in by_name and "W2" in by_name:
        ratio = by_name["W2"]["median_seconds"] / by_name["W1"]["median_seconds"]
        lines += ["", f"W2 / W1 = {ratio:.1f} (medians of this run; target <= 4)"]
    if "W2" in by_name and "W6" in by_name:
        ratio = by_name["W6"]["median_seconds"] / by_name["W2"]["median_seconds"]
        lines += ["", f"W6 / W2 = {ratio:.2f} (the next month against the first; no target)"]
    for r in results:
        stage_runs = [d["stages"] for d in r["detail"] if d.get("stages")]
        if stage_runs:
            keys = list(stage_runs[0])
            medians = {k: statistics.median(s[k] for s in stage_runs if k in s) for k in keys}
            lines += [
                "",
                f"{r['workload']} stages (median over runs, seconds): "
                + ", ".join(f"{k} {v:.2f}" for k, v in medians.items()),
            ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench")
    parser.add_argument(
        "--runs", type=int, default=None, help="repetitions (default: per workload)"
    )
    parser.add_argument("--only", nargs="*", default=None, help="workloads to run (default: all)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    args = parser.parse_args(argv)
    names = args.only or list(workloads.DESCRIPTIONS)
    unknown = set(names) - set(workloads.DESCRIPTIONS)
    if unknown:
        raise SystemExit(
            f"unknown workloads {sorted(unknown)}: choose from {list(workloads.DESCRIPTIONS)}"
        )
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"preparing inputs in {args.workdir} (once; not timed) ...", flush=True)
    workloads.prepare_inputs(args.workdir, names)
    measured = [
        n
        for n in workloads.RUNNERS
        if n in names or (n == "W2" and "W3" in names) or (n == "W6" and "W7" in names)
    ]
    collected: dict[str, list[dict]] = {}
    for name in measured:
        n = args.runs or workloads.RUNS[name]
        for i in range(n):
            r = run_once(name, args.workdir)
            for follow, fr in r.pop("followups", {}).items():
                fr["peak_rss_mb"] = r["peak_rss_mb"]  # same process
                collected.setdefault(follow, []).append(fr)
                print(f"  {follow} (in {name} run {i + 1}): {fr['seconds']:.2f}s", flush=True)
            collected.setdefault(name, []).append(r)
            print(
                f"  {name} run {i + 1}/{n}: {r['seconds']:.2f}s, peak {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    results = [
        summarise(n, collected[n]) for n in workloads.DESCRIPTIONS if n in collected and n in names
    ]
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}",
    }
    by_name = {r["workload"]: r for r in results}
    if "W1" in by_name and "W2" in by_name:
        meta["w2_over_w1"] = round(
            by_name["W2"]["median_seconds"] / by_name["W1"]["median_seconds"], 2
        )
    for r in results:
        r["target"], r["met"] = _met(r, by_name)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2) + "\n"
    )
    table = markdown(results, meta)
    (args.out / "results.md").write_text(table)
    print()
    print(table)
    print(f"written to {args.out / 'results.json'} and {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
