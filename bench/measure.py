"""Small, dependency-free measurement helpers: percentiles, the age slope, process CPU and RSS."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE")


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without numpy so client code stays light."""
    if not values:
        return float("nan")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys against xs; for age (ms) against time (s) this is ms of age gained per
    second of run. A bounded pipeline has ~0; a queue that grows has a positive slope."""
    n = len(xs)
    if n < 2:
        return float("nan")
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


@dataclass
class CpuSample:
    wall: float
    cpu: float  # user + system seconds of this whole process (all threads)


def cpu_sample() -> CpuSample:
    # process_time(): CLOCK_PROCESS_CPUTIME_ID, nanosecond resolution (os.times() counts 10 ms ticks).
    return CpuSample(time.monotonic(), time.process_time())


def cpu_percent(start: CpuSample, end: CpuSample) -> float:
    """Process CPU between two samples, in % of one core (200 % = both cores of a 2-core machine)."""
    wall = end.wall - start.wall
    return 100.0 * (end.cpu - start.cpu) / wall if wall > 0 else float("nan")


def rss_bytes() -> int:
    """Resident set size from /proc/self/statm (field 2, in pages): what the kernel really holds for us."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


@dataclass
class MachineSample:
    wall: float
    busy: float  # ticks all CPUs spent busy (all processes), from /proc/stat
    total: float  # ticks of all CPUs, busy or idle
    own: float  # CPU seconds of this process


def machine_sample() -> MachineSample:
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            float(x) for x in f.readline().split()[1:9]
        )
    busy = user + nice + system + irq + softirq + steal
    return MachineSample(time.monotonic(), busy, busy + _idle + _iowait, time.process_time())


def others_cpus(start: MachineSample, end: MachineSample, other_own_cpus: float = 0.0) -> float:
    """CPUs' worth of work done by *other* processes between two samples: the whole machine's busy time
    minus this process's, minus ``other_own_cpus`` (our client process). On a shared machine this is the
    noise a measurement carried; 0.5 means half a CPU was busy with someone else's work on average."""
    ncpu = os.cpu_count() or 1
    ticks = end.total - start.total
    wall = end.wall - start.wall
    if ticks <= 0 or wall <= 0:
        return float("nan")
    machine = (end.busy - start.busy) / ticks * ncpu
    return max(0.0, machine - (end.own - start.own) / wall - other_own_cpus)
