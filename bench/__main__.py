"""``python -m bench``: run the suite and print one table (markdown, ready to paste into docs/benchmarks.md).

    python -m bench                 # default durations, about 9 minutes on 2 cores
    python -m bench --full          # 60 s for every freshness/memory run (about 25 minutes)
    python -m bench --rows 1,6      # a subset
    python -m bench --quick         # every duration x0.15: checks the suite runs; numbers meaningless
    python -m bench --json out.json # also write every number as JSON

Progress goes to stderr; the table (and the machine description) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import time

import cv2
import numpy as np
import websockets

import livecam_widget
from bench.rows import ROWS, Config, Line


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def cpu_times() -> tuple[float, float, float]:
    """Whole machine (all CPUs, all processes) from /proc/stat: (busy, steal, total) in ticks."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq, steal, sum(fields)


def own_cpu_seconds() -> float:
    """CPU used by this suite: this process plus its (finished) client subprocesses."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def source_version() -> str:
    """The commit measured, and whether src/ differed from it (others may be editing the tree)."""
    root = pathlib.Path(__file__).resolve().parent.parent
    imported_from = pathlib.Path(livecam_widget.__file__).resolve().parent.parent
    if imported_from != root / "src":  # e.g. PYTHONPATH pointing at a `git archive` of one commit
        return f"livecam_widget imported from {imported_from}"
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}{' with uncommitted changes in src/' if dirty else ''}"


def machine() -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "websockets": websockets.__version__,
        "numpy": np.__version__,
        "livecam_widget": livecam_widget.__version__,
        "kernel": platform.release(),
        "source": source_version(),
    }


def table(lines: list[Line]) -> str:
    # "others": CPUs' worth of other tenants' work during that measurement (2 = both CPUs of a 2-core box).
    out = [
        "| row | scenario | implementation | result | target | verdict | others |",
        "|---|---|---|---|---|---|---|",
    ]
    for line in lines:
        others = "" if line.others != line.others else f"{line.others:.2f}"  # NaN: not measured
        cells = [line.row, line.scenario, line.impl, line.result, line.target, line.verdict, others]
        out.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="60 s for every freshness and memory run")
    parser.add_argument("--quick", action="store_true", help="shrink every duration (smoke test only)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    parser.add_argument("--json", metavar="PATH", help="also write all numbers to PATH")
    args = parser.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {unknown}; choose from {list(ROWS)} (row 2 is the browser suite)")

    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    cfg = Config(full=args.full, scale=0.15 if args.quick else 1.0, log=log)
    info = machine()
    load_before = loadavg()
    busy0, steal0, total0 = cpu_times()
    own0 = own_cpu_seconds()
    lines: list[Line] = []
    for row in rows:
        lines.extend(ROWS[row](cfg))
    elapsed = time.monotonic() - started
    load_after = loadavg()
    busy1, steal1, total1 = cpu_times()
    ncpu = os.cpu_count() or 1
    # Busy and steal as % of the whole machine; what this suite used itself, for comparison. The rest is
    # other tenants of a shared machine, the noise every number below carries.
    busy_pct = 100.0 * (busy1 - busy0) / (total1 - total0)
    steal_pct = 100.0 * (steal1 - steal0) / (total1 - total0)
    own_pct = 100.0 * (own_cpu_seconds() - own0) / (elapsed * ncpu)

    mode = "full" if args.full else "quick (numbers meaningless)" if args.quick else "default"
    print(
        f"livecam-widget {info['livecam_widget']} benchmark, {mode} mode, rows {','.join(rows)}: "
        f"{elapsed:.0f} s total\n"
        f"source measured: {info['source']}\n"
        f"machine: {info['nproc']} CPUs ({info['cpu']}), Linux {info['kernel']}; python {info['python']}, "
        f"opencv {info['opencv']}, websockets {info['websockets']}, numpy {info['numpy']}\n"
        f"load average (1/5/15 min) before: {load_before}, after: {load_after}; machine CPU busy "
        f"{busy_pct:.0f}% of {ncpu} CPUs during the run, of which this suite {own_pct:.0f}%; "
        f"steal {steal_pct:.1f}%\n"
    )
    print(table(lines))
    if args.json:
        payload = {
            "machine": info,
            "mode": mode,
            "elapsed_s": elapsed,
            "loadavg": [load_before, load_after],
            "machine_busy_percent": busy_pct,
            "suite_cpu_percent": own_pct,
            "steal_percent": steal_pct,
            "lines": [line.__dict__ for line in lines],
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
