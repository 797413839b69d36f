"""Images or video on a limited link: JPEG at fixed quality, JPEG with `quality="auto"`, H.264, same run.

    python -m bench.quality                # 20 s per case after 6 s of settling, about 7 minutes
    python -m bench.quality --seconds 40

1280x720 frames at 60 fps (bench/frames.py: test pattern plus sensor noise, ~100 KB at JPEG quality 80;
one second of frames, cycled, each with noise of its own) go to one LiveFrame (max_fps 30); one viewer
pulls through the token-bucket link of bench/proxy.py at 20 and 5 Mbit/s, granting the next frame (with a
paint report) as soon as one arrives, as the browser does after painting. The cases: `format="jpeg"` at
quality 80 and at "auto", `format="h264"` at quality 80 (CRF 23) and `format="auto"` (JPEG until the link
cannot carry it, then H.264). The viewer offers H.264 as Chromium's WebCodecs does, at 4:2:0 and 4:4:4 (it
gets 4:4:4); one more H.264 case offers 4:2:0 only, as Firefox's does.

Reported: frames per second received, age on arrival (now - t_capture) p50/p95, bytes per frame, the quality
level the viewer settled on, the codec of the last frame (`h264/444`: High 4:4:4), the kernel's encode time
per frame (its stats), the benchmark process's CPU (server and receiving client; decoding is done afterwards)
and the picture quality: PSNR (every frame) and SSIM (every 10th) of the decoded frames against the frames the
producer fed, at the source's size (a downscaled frame is scaled back up, as the view draws it), and PSNR
against the same frames without their sensor noise ("scene"). Against the fed frames the noise dominates (a
codec that drops it and keeps the scene exactly scores 33.2 dB), and "limit" is the most any codec could score
at the case's bytes per frame (bench/bound.py: the rate-distortion bound of that noise); against the scene,
what a codec keeps of the picture's edges shows. Video frames are decoded in order with PyAV after the
measurement, as a view decodes them on arrival. Last, on the slowest link, how H.264 recovers: after a decode
error (the next grant asks for a keyframe) and after a dropped connection (a new one starts on a keyframe),
the keyframe's size and time to arrive and the ages of the ten frames after it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import cv2
import numpy as np

from bench import bound
from bench.frames import Producer, make_frames, make_scene
from bench.proxy import TokenBucketLink
from livecam_widget import LiveFrame
from livecam_widget._protocol import VIDEO_CODECS
from livecam_widget.client import FrameClient, H264Decoder, ReceivedFrame

#: What the viewer offers: Chromium's decoder takes both chroma formats; Firefox's 4:2:0 only.
BOTH, ONLY_420 = VIDEO_CODECS, ("h264",)
#: (format, quality, video codecs offered)
CASES = (
    ("jpeg", 80, BOTH),
    ("jpeg", "auto", BOTH),
    ("h264", 80, ONLY_420),
    ("h264", 80, BOTH),
    ("auto", 80, BOTH),
)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two gray images (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5)."""
    x, y = (cv2.cvtColor(i, cv2.COLOR_BGR2GRAY).astype(np.float64) for i in (a, b))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.mean())


def picture_quality(
    received: list[ReceivedFrame], frames: list[np.ndarray], scene: list[np.ndarray]
) -> tuple[float, float, float]:
    """(mean PSNR, mean SSIM, mean PSNR against the scene) of what the viewer got against what was fed
    (``seq`` n is ``frames[n-1]``, cycled). Video frames are decoded in arrival order, each chain from its
    keyframe."""
    decoder = H264Decoder()
    psnrs, ssims, scene_psnrs = [], [], []
    for i, frame in enumerate(received):
        if frame.is_video:
            image = decoder.decode(frame.header, frame.data)
            if image is None:
                continue
        else:
            image = frame.decode()
        source = frames[(frame.seq - 1) % len(frames)]
        height, width = source.shape[:2]
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
        psnrs.append(cv2.PSNR(image, source))
        scene_psnrs.append(cv2.PSNR(image, scene[(frame.seq - 1) % len(scene)]))
        if i % 10 == 0:
            ssims.append(ssim(image, source))
    return statistics.fmean(psnrs), statistics.fmean(ssims), statistics.fmean(scene_psnrs)


def fed() -> list[np.ndarray]:
    """The frames fed: one second at 60 fps, each with a noise field of its own, as a camera's sensor noise
    is new in every frame (the other benchmarks reuse 8 fields): the frame a viewer gets one second later is
    the first one that shares its noise, further back than the 16 frames an H.264 decoder keeps."""
    return make_frames(1280, 720, 60, noise_fields=60)


async def pull(
    url: str, settle: float, seconds: float, lf: LiveFrame, offer: tuple[str, ...] = BOTH
) -> dict[str, Any]:
    received: list[ReceivedFrame] = []
    async with FrameClient(url, video=offer, decode_video=False) as client:
        started = time.monotonic()
        while time.monotonic() - started < settle:
            received.append(await client.next(timeout=30))  # kept: video decodes from the first keyframe
        measured_from = len(received)
        started, cpu0 = time.monotonic(), time.process_time()
        while time.monotonic() - started < seconds:
            received.append(await client.next(timeout=30))
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu0
        stats = lf.stats  # read while still connected
    measured = received[measured_from:]
    ages = sorted(frame.age_ms for frame in measured)
    viewer = (stats.get("viewers") or [{}])[0]
    video = stats.get("video")
    encode_ms = video["encode_ms"] if video and viewer.get("codec") == "h264" else stats.get("encode_ms")
    codec = viewer.get("codec", "-")
    if codec == "h264" and str(measured[-1].header.get("codec", "")).startswith("avc1.f4"):
        codec = "h264/444"
    psnr, mean_ssim, scene_psnr = picture_quality(
        received, fed(), make_scene(1280, 720, 60)
    )
    return {
        "fps": len(measured) / elapsed,
        "p50": ages[len(ages) // 2],
        "p95": ages[min(len(ages) - 1, int(len(ages) * 0.95))],
        "kb": statistics.fmean(len(frame.data) for frame in measured) / 1024,
        "level": viewer.get("quality_level", "-"),
        "codec": codec,
        "encode_ms": encode_ms,
        "cpu": 100.0 * cpu / elapsed,
        "psnr": psnr,
        "ssim": mean_ssim,
        "scene": scene_psnr,
    }


@contextlib.asynccontextmanager
async def linked(mbit: float, **options: Any) -> AsyncIterator[tuple[LiveFrame, str]]:
    """A LiveFrame (max_fps 30, ``options``) fed the 1280x720 frames at 60 fps, and its URL through the
    token-bucket link at ``mbit``; all stopped on exit."""
    frames = fed()
    with LiveFrame(max_fps=30, **options) as lf:
        producer = Producer(frames, 60, lf.update).start()
        link = TokenBucketLink(("127.0.0.1", lf.port), mbit * 1e6)
        await link.start()
        try:
            yield lf, lf.url.replace(f":{lf.port}/", f":{link.port}/")
        finally:
            link.close()
            producer.stop()


async def case(
    fmt: str, quality: Any, offer: tuple[str, ...], mbit: float, settle: float, seconds: float
) -> dict[str, Any]:
    async with linked(mbit, quality=quality, format=fmt) as (lf, url):
        return await pull(url, settle, seconds, lf, offer)


async def recovered(client: FrameClient, asked: float, key: ReceivedFrame) -> dict[str, Any]:
    """The keyframe that ended a loss (asked for at wall-clock ``asked``) and the ages of the 10 frames after
    it."""
    after = [(await client.next(timeout=30)).age_ms for _ in range(10)]
    return {
        "key": bool(key.header.get("key")),
        "key_kb": len(key.data) / 1024,
        "key_ms": (key.t_received - asked) * 1000.0,
        "next_ages_ms": [round(age) for age in after],
    }


async def recovery(mbit: float, settle: float) -> dict[str, Any]:
    """H.264 on the link: how long until the view is fresh again after a decode error (its next grant asks
    for a keyframe) and after a dropped connection (a new one starts on a keyframe). Per event: the keyframe's
    size, the time from the request to its arrival, and the ages of the frames that follow it."""
    out: dict[str, Any] = {}
    async with linked(mbit, format="h264") as (_, url):
        for event in ("decode error", "dropped connection"):
            async with FrameClient(url, video=True, decode_video=False) as client:
                started = time.monotonic()
                while time.monotonic() - started < settle:
                    await client.next(timeout=30)
                if event == "decode error":
                    asked = time.time()
                    await client.request(key=True)
                    out[event] = await recovered(client, asked, await client.receive(30))
                    continue
                await client.close()
                async with FrameClient(url, video=True, decode_video=False) as again:
                    asked = time.time()
                    out[event] = await recovered(again, asked, await again.next(timeout=30))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=6.0, help="seconds before measuring (auto adapts)")
    parser.add_argument("--links", default="20,5", help="link rates in Mbit/s, comma-separated")
    args = parser.parse_args()
    rows = []
    for mbit in (float(rate) for rate in args.links.split(",")):
        for fmt, quality, offer in CASES:
            result = asyncio.run(case(fmt, quality, offer, mbit, args.settle, args.seconds))
            rows.append((mbit, fmt, quality, result))
            print(f"  {mbit:g} Mbit/s format={fmt} quality={quality} offer={offer}: {result}", flush=True)
    print("  the most any codec could reach against the fed frames at each size (bench.bound)", flush=True)
    slopes = bound.curve(bound.bench_classes(), bound.BETAS)
    print()
    print(
        f"1280x720 at 60 fps, max_fps 30, one viewer via the link, {args.seconds:g} s after {args.settle:g} s"
    )
    print(
        f"{'link':>10} {'format':>6} {'quality':>8} {'fps':>6} {'age p50':>8} {'p95':>6} {'KB/frame':>9} "
        f"{'level':>6} {'codec':>8} {'enc ms':>7} {'CPU %':>6} {'PSNR':>6} {'limit':>6} {'SSIM':>6} "
        f"{'scene':>6}"
    )
    for mbit, fmt, quality, r in rows:
        encode = f"{r['encode_ms']:7.1f}" if r["encode_ms"] is not None else f"{'-':>7}"
        limit = bound.psnr(bound.least_mse(slopes, bound.rate_of(r["kb"])))
        print(
            f"{mbit:>6g} Mb/s {fmt:>6} {quality!s:>8} {r['fps']:6.1f} {r['p50']:8.0f} {r['p95']:6.0f} "
            f"{r['kb']:9.1f} {r['level']!s:>6} {r['codec']!s:>8} {encode} {r['cpu']:6.0f} {r['psnr']:6.2f} "
            f"{limit:6.2f} {r['ssim']:6.3f} {r['scene']:6.2f}"
        )
    mbit = min(float(rate) for rate in args.links.split(","))
    print(f"\nH.264 at {mbit:g} Mbit/s: fresh again after a decode error and after a dropped connection")
    for event, r in asyncio.run(recovery(mbit, args.settle)).items():
        print(
            f"  {event}: keyframe {r['key']} {r['key_kb']:.0f} KB, {r['key_ms']:.0f} ms from the request to "
            f"its arrival; ages of the next 10 frames (ms): {r['next_ages_ms']}"
        )


if __name__ == "__main__":
    main()
