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
    "W4": ("rows/s", ">=", 200_000),
}


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


def markdown(results: list[dict], meta: dict) -> str:
    lines = [
        f"# Benchmark results ({meta['date']}, {meta['machine']})",
        "",
        "| workload | runs | median s | spread s | peak MB | throughput | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        thr = f"{r['median_rows_per_second']:,} rows/s" if "median_rows_per_second" in r else ""
        target = TARGETS.get(r["workload"])
        met = ""
        if target:
            unit, op, value = target
            got = r.get("median_rows_per_second") if unit == "rows/s" else r.get("median_seconds")
            met = (
                "yes"
                if got is not None and ((got >= value) if op == ">=" else (got <= value))
                else "no"
            )
            target = f"{op} {value:,} {unit}"
        lines.append(
            f"| {r['workload']}: {r['description']} | {r['runs']} | {r['median_seconds']:.2f} |"
            f" {r['min_seconds']:.2f}-{r['max_seconds']:.2f} | {r['peak_rss_mb']:.0f} | {thr} |"
            f" {target or ''} | {met} |"
        )
    for r in results:
        stages = r["detail"][0].get("stages")
        if stages:
            lines += [
                "",
                f"{r['workload']} stages (first run, seconds): "
                + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()),
            ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None, help="workloads to run (default: all)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    args = parser.parse_args(argv)
    names = args.only or list(workloads.DESCRIPTIONS)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"preparing inputs in {args.workdir} ...", flush=True)
    workloads.prepare_inputs(args.workdir, names)
    results = []
    for name in names:
        runs = []
        for i in range(args.runs):
            r = run_once(name, args.workdir)
            runs.append(r)
            print(
                f"  {name} run {i + 1}/{args.runs}: {r['seconds']:.2f}s, peak {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
        results.append(summarise(name, runs))
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}",
    }
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
