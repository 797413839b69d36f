"""What automatic quality gains on a limited link: `quality="auto"` against fixed quality 80, same run.

    python -m bench.quality                # 20 s per case after 6 s of settling, about 2 minutes
    python -m bench.quality --seconds 40

1280x720 frames at 60 fps (bench/frames.py: test pattern plus sensor noise, ~100 KB at quality 80) go
to one LiveFrame (max_fps 30); one viewer pulls through the token-bucket link of bench/proxy.py at 20 and
5 Mbit/s, granting the next frame (with a paint report) as soon as one arrives, as the browser does after
painting. Reported: frames per second received, age on arrival (now - t_capture) p50/p95, and the bytes
per frame, with the quality level the viewer settled on.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from bench.frames import Producer, make_frames
from bench.proxy import TokenBucketLink
from livecam_widget import LiveFrame
from livecam_widget.client import FrameClient


async def pull(url: str, settle: float, seconds: float, lf: LiveFrame) -> dict[str, Any]:
    ages: list[float] = []
    sizes: list[int] = []
    async with FrameClient(url) as client:
        started = time.monotonic()
        while time.monotonic() - started < settle:
            await client.next(timeout=30)
        started = time.monotonic()
        count = 0
        while time.monotonic() - started < seconds:
            frame = await client.next(timeout=30)
            count += 1
            ages.append(frame.age_ms)
            sizes.append(len(frame.data))
        elapsed = time.monotonic() - started
        viewers = lf.stats.get("viewers") or [{}]  # read while still connected
    ages.sort()
    return {
        "fps": count / elapsed,
        "p50": ages[len(ages) // 2],
        "p95": ages[min(len(ages) - 1, int(len(ages) * 0.95))],
        "kb": statistics.fmean(sizes) / 1024,
        "level": viewers[0].get("quality_level", "-"),
    }


async def case(quality: Any, mbit: float, settle: float, seconds: float) -> dict[str, Any]:
    frames = make_frames(1280, 720, 60)
    with LiveFrame(max_fps=30, quality=quality) as lf:
        producer = Producer(frames, 60, lf.update).start()
        link = TokenBucketLink(("127.0.0.1", lf.port), mbit * 1e6)
        await link.start()
        try:
            url = lf.url.replace(f":{lf.port}/", f":{link.port}/")
            return await pull(url, settle, seconds, lf)
        finally:
            link.close()
            producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=6.0, help="seconds before measuring (auto adapts)")
    args = parser.parse_args()
    rows = []
    for mbit in (20.0, 5.0):
        for quality in (80, "auto"):
            result = asyncio.run(case(quality, mbit, args.settle, args.seconds))
            rows.append((mbit, quality, result))
            print(f"  {mbit:g} Mbit/s quality={quality}: {result}", flush=True)
    print()
    print(
        f"1280x720 at 60 fps, max_fps 30, one viewer via the link, {args.seconds:g} s after {args.settle:g} s"
    )
    print(f"{'link':>10} {'quality':>8} {'fps':>6} {'age p50':>8} {'p95':>6} {'KB/frame':>9} {'level':>6}")
    for mbit, quality, r in rows:
        print(
            f"{mbit:>6g} Mb/s {quality!s:>8} {r['fps']:6.1f} {r['p50']:8.0f} {r['p95']:6.0f} {r['kb']:9.1f} "
            f"{r['level']!s:>6}"
        )


if __name__ == "__main__":
    main()
