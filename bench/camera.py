"""The viewer's own camera (``LiveFrame("browser")``): round-trip age and rates, direct and comm transports.

    python -m bench.camera                  # 20 s per transport, about 1.5 minutes
    python -m bench.camera --seconds 30

Chromium's fake camera plays 640x480 pictures at 30 fps (a Y4M file made here) into a view in JupyterLab;
the kernel runs a light ``process`` (a blur) and every frame goes back to the same view. The kernel reports,
once a second, what reached it (``fps_received``) and the age of what was painted: capture in the browser
-> paint after processing (``latency_ms`` and ``latency_ms_p95`` over the last 2 s, with the browser's
capture times translated to the kernel's clock). Printed: the median over the run of each per-second figure.

Needs the browser extra (``pip install -e '.[browser]'``) and Debian's Chromium.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator

import cv2
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "browser"))

from livecam_e2e import open_chromium, running_server, write_y4m

W, H, FPS, FRAMES = 640, 480, 30, 90

CELL = f"""
import json, time, cv2
from livecam_widget import LiveFrame
seen = []
lf = LiveFrame("browser:{W}x{H}@{FPS}", process=lambda f: cv2.GaussianBlur(f, (5, 5), 0), transport=TRANSPORT)
lf.observe(lambda change: seen.append(dict(change["new"])), "stats")
lf
"""
REPORT = "print(json.dumps(seen)); seen.clear()"


def noise_frames() -> Iterator[np.ndarray]:
    """Camera-like frames: blurred noise with the frame's number drawn large."""
    rng = np.random.default_rng(0)
    for i in range(FRAMES):
        frame = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (9, 9), 0)
        cv2.putText(frame, str(i), (40, 240), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
        yield frame


def run(lab, pw, tmp: pathlib.Path, transport: str, seconds: float) -> dict[str, float | None]:
    camera = tmp / "camera.y4m"
    if not camera.exists():
        write_y4m(camera, noise_frames(), FPS)
    args = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    ]
    name = lab.add_notebook(
        f"bench_camera_{transport}.ipynb", [CELL.replace("TRANSPORT", repr(transport)), REPORT]
    )
    viewport = {"width": 1200, "height": 1000}
    context, page = open_chromium(pw, tmp / f"profile-{transport}", viewport, 120_000, [], args)
    try:
        page.open_in(lab, name)
        page.run(0)
        time.sleep(5.0)  # the camera starts, the clock estimate settles
        page.run(1)  # drop what was seen so far
        time.sleep(seconds)
        page.run(1)
        reports = [r for r in json.loads(page.text(1).strip().splitlines()[-1]) if r.get("camera")]
    finally:
        context.close()
        lab.shutdown_kernels()

    def median(key: str, inner: str | None = None) -> float | None:
        values = [(r[key] or {}).get(inner) if inner else r[key] for r in reports]
        numbers = [v for v in values if isinstance(v, (int, float))]
        return round(statistics.median(numbers), 1) if numbers else None

    return {
        "reports": len(reports),
        "fps_browser": median("camera", "fps_browser"),
        "fps_received": median("camera", "fps_received"),
        "fps_painted": median("fps_painted"),
        "age_p50": median("latency_ms"),
        "age_p95": median("latency_ms_p95"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server("lab", pathlib.Path(tmp) / "lab") as lab,
        sync_playwright() as pw,
    ):
        for transport in ("websocket", "comm"):
            result = run(lab, pw, pathlib.Path(tmp), transport, args.seconds)
            rows.append((transport, result))
            print(f"  {transport:9} {result}", flush=True)
    print()
    print(f"Browser camera {W}x{H} at {FPS} fps -> kernel (blur) -> the same view, JupyterLab, Chromium")
    print(f"{'transport':9} {'age p50':>8} {'p95':>6} {'camera fps':>10} {'kernel got':>10} {'painted':>8}")
    for transport, r in rows:
        cells = [r["age_p50"], r["age_p95"], r["fps_browser"], r["fps_received"], r["fps_painted"]]
        text = [f"{v:.1f}" if isinstance(v, (int, float)) else "-" for v in cells]
        print(f"{transport:9} {text[0]:>8} {text[1]:>6} {text[2]:>10} {text[3]:>10} {text[4]:>8}")


if __name__ == "__main__":
    main()
