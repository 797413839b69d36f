"""Soak: LiveFrame for N minutes at 60 fps with a fast, a slow and a stalled viewer plus connect/disconnect
churn; samples RSS, open fds, threads and the fast viewer's fps over time.

    python -m bench.soak               # 10 minutes
    python -m bench.soak --minutes 1   # a quick look

Viewers run in a child process (their CPU is not the server's); the widget and its producer run here.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import threading
import time

from livecam_widget import LiveFrame, TestPattern
from livecam_widget.client import FrameClient


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def viewers(url: str, seconds: float, report: mp.Queue) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + seconds
    fast_count = 0
    slow_ages: list[float] = []
    churned = 0

    async def fast() -> None:
        nonlocal fast_count
        async with FrameClient(url) as client:
            while time.monotonic() < deadline:
                await client.next(timeout=10)
                fast_count += 1

    async def slow() -> None:
        async with FrameClient(url) as client:
            while time.monotonic() < deadline:
                frame = await client.next(timeout=10)
                slow_ages.append(frame.age_ms)
                await asyncio.sleep(0.25)

    async def stalled() -> None:
        async with FrameClient(url) as client:
            client.ws.transport.pause_reading()
            await client.request(4)
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            client.ws.transport.resume_reading()

    async def churn() -> None:
        nonlocal churned
        while time.monotonic() < deadline - 2:
            async with FrameClient(url) as client:
                await client.next(timeout=10)
                await client.next(timeout=10)
            churned += 1
            await asyncio.sleep(0.5)

    async def sample() -> None:
        nonlocal fast_count
        while time.monotonic() < deadline:
            await asyncio.sleep(10)
            ages = sorted(slow_ages) or [float("nan")]
            report.put(("viewers", fast_count / 10, ages[len(ages) // 2], ages[-1], churned))
            fast_count = 0
            slow_ages.clear()

    await asyncio.gather(fast(), slow(), stalled(), churn(), sample())


def run_viewers(url: str, seconds: float, report: mp.Queue) -> None:  # type: ignore[type-arg]
    asyncio.run(viewers(url, seconds, report))
    report.put(("done",))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    seconds = args.minutes * 60
    pattern = TestPattern(1280, 720)
    frames = [pattern.frame(i, i / 60) for i in range(60)]
    lf = LiveFrame(max_fps=30)
    stop = threading.Event()

    def produce() -> None:
        i = 0
        next_at = time.monotonic()
        while not stop.is_set():
            lf.update(frames[i % len(frames)])
            i += 1
            next_at += 1 / 60
            stop.wait(max(0.0, next_at - time.monotonic()))

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    ctx = mp.get_context("spawn")
    report: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    child = ctx.Process(target=run_viewers, args=(lf.url, seconds, report))
    child.start()
    started = time.monotonic()
    cpu0 = cpu_s()
    print(
        f"soak: {args.minutes:g} min, 1280x720 at 60 fps, max_fps 30; "
        "fast + slow (250 ms/frame) + stalled viewers,"
    )
    print("      one more viewer connecting and leaving every ~0.5 s; viewers in a child process\n")
    print(
        f"{'t (s)':>6} {'RSS MB':>7} {'fds':>4} {'threads':>7} {'cpu %':>6} {'fast fps':>8} "
        f"{'slow age p50/max ms':>19} {'churned':>7} {'dropped':>7}"
    )
    rss0 = rss_mb()
    last_cpu, last_t = cpu0, started
    rows = []
    while True:
        item = report.get()
        if item[0] == "done":
            break
        _, fps, p50, worst, churned = item
        now, cpu = time.monotonic(), cpu_s()
        row = (
            now - started,
            rss_mb(),
            len(os.listdir("/proc/self/fd")),
            threading.active_count(),
            100 * (cpu - last_cpu) / (now - last_t),
            fps,
            p50,
            worst,
            churned,
            lf.stats.get("dropped", 0),
        )
        last_cpu, last_t = cpu, now
        rows.append(row)
        print(
            f"{row[0]:6.0f} {row[1]:7.1f} {row[2]:4d} {row[3]:7d} {row[4]:6.0f} {row[5]:8.1f} "
            f"{row[6]:9.0f}/{row[7]:<9.0f} {row[8]:7d} {row[9]:7d}",
            flush=True,
        )
    child.join()
    stop.set()
    producer.join()
    lf.close()
    fps = [r[5] for r in rows]
    print(
        f"\nRSS {rss0:.1f} -> {rows[-1][1]:.1f} MB (max {max(r[1] for r in rows):.1f}); "
        f"fds {rows[0][2]} -> {rows[-1][2]}; threads {rows[0][3]} -> {rows[-1][3]}; "
        f"fast fps min/median {min(fps):.1f}/{sorted(fps)[len(fps) // 2]:.1f}; "
        f"viewers churned {rows[-1][8]}"
    )


if __name__ == "__main__":
    main()
