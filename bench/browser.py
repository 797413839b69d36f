"""Freshness in a real browser: LiveFrame against an ipywidgets.Image loop and jupyter_rfb, in JupyterLab.

    python -m bench.browser                 # 20 s per case, about 7 minutes
    python -m bench.browser --seconds 30
    python -m bench.browser --only LiveFrame,LiveFrame-comm,LiveFrame-remote,LiveFrame-remote-comm

The same 1280x720 frames at 59.94 fps go to each widget. Every frame carries its frame number and the
capture time (ms) as large black/white blocks in its top-left corner (plus a check row); the page reads
them back from the pixels in every animation frame's rendering, just before it is painted (`getImageData`
on LiveFrame's canvas, or on the image element drawn into a canvas for the two others), and "fps shown"
counts distinct frames seen. "age" is when that frame reached the screen minus the capture time of what it
shows: a trace of the browser's compositor (`TRACE_CATEGORIES`) ties each read to the presentation of the
frame it went out in. The last columns split it: "at read" is the age at the read (p50 / p95), "+ready" the
time from the read until the compositor had the picture ready to draw, and "+compositor" from then to the
presentation (p50s). "+ready" is not the same for every widget: a canvas is a bitmap already drawn, while an
`<img>` that got a new JPEG is decoded while the compositor rasterizes that frame. "+compositor" depends on
how Chromium's scheduler runs that browser: about 4 ms where it draws a tree as soon as it is ready, about
20 where it keeps it for its next frame, and a browser tends to keep to one of them for a whole case. Each
case runs with the page unthrottled and with Chrome DevTools' CPU throttling at 6x. Browser and kernel
share this machine's clock.

Why 59.94 (the video rate cameras use) and not 60: the producer's clock is the display's (one machine), so
at exactly 60 the time from a capture to the next display refresh stayed the same for a whole run, set by
chance when the run started, and every frame's age on screen carried the same share of one refresh
interval (0 to 16.7 ms): four runs of one version read 17 to 24 ms at the median. At 59.94 that delay sweeps
the whole interval every 16.7 s, as with a camera on its own clock, and each run measures all of it.

How each peer is driven, as its documentation suggests:
- LiveFrame: `lf.update(frame)` from a producer thread, `max_fps=60`; also forced onto the
  jupyter-server-proxy and comm transports (LiveFrame-proxy, LiveFrame-comm).
- ipywidgets.Image: `img.value = jpeg` (q95) from a producer thread: every frame is pushed.
- jupyter_rfb (RemoteFrameBuffer, its default 2 frames in flight, q80): `request_draw()` at 60 Hz from a
  timer on the kernel's event loop; `get_frame()` makes the newest frame when a draw happens.

The remote rows put Chromium on "another machine": a network namespace joined to this one by a veth pair,
reaching only the address JupyterLab listens on (as tests/browser/test_remote_browser.py does; needs root
and iproute2). There the direct socket cannot reach the kernel's 127.0.0.1: LiveFrame-remote is the
default transport choice (jupyter-server-proxy), LiveFrame-remote-comm the comm. Both clocks are still
this machine's, so ages stay comparable.

Needs the browser extra and jupyter-rfb (`pip install -e '.[browser,bench]'`) and Debian's Chromium.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "browser"))

from livecam_e2e import CHROMIUM, open_chromium, remote_machine, running_server

#: Cells whose names end so run with Chromium in a network namespace of its own.
REMOTE = ("-remote", "-remote-comm")

FRAMES = '''
import threading, time
import cv2, numpy as np
from livecam_widget import TestPattern, draw_code

W, H, CHECK, MASK = 1280, 720, 0x5A5A5A, (1 << 24) - 1
_pattern = TestPattern(W, H)
_backgrounds = [_pattern.frame(i, i / 60) for i in range(60)]

def make(seq):
    """Frame ``seq``: a moving test picture with seq, capture time and a check row as block codes."""
    img = _backgrounds[seq % 60].copy()
    ms = int(time.time() * 1000) & MASK
    for row, value in enumerate((seq & MASK, ms, 0, (seq & MASK) ^ ms ^ CHECK)):
        draw_code(img, value, y=16 * row)
    return img

def produce(push, fps=60000 / 1001):
    """Call push(make(i)) at ``fps`` from a thread, the way a capture loop would."""
    def run():
        i, next_at = 0, time.monotonic()
        while True:
            i += 1
            push(make(i))
            next_at += 1 / fps
            time.sleep(max(0.0, next_at - time.monotonic()))
    threading.Thread(target=run, daemon=True).start()
'''

# Camera-like content: sensor noise on every pixel makes a 1280x720 JPEG (quality 80) about 100 KB instead
# of the test pattern's 15 KB.
NOISY = """
_rng = np.random.default_rng(0)
_backgrounds = [cv2.add(b, _rng.integers(0, 48, b.shape, dtype=np.uint8)) for b in _backgrounds]
"""

FLOOR_ESM = """
export default { render({ el }) {
  const c = document.createElement('canvas');
  c.className = 'livecam-canvas'; c.width = 1280; c.height = 720; c.style.maxWidth = '100%';
  el.appendChild(c);
  const g = c.getContext('2d');
  let seq = 0, raf = 0;
  const draw = () => {
    seq = (seq + 1) & 0xffffff;
    const ms = Date.now() & 0xffffff;
    g.fillStyle = `hsl(${seq % 360} 60% 50%)`;
    g.fillRect(0, 0, 1280, 720);
    [seq, ms, 0, seq ^ ms ^ 0x5a5a5a].forEach((v, r) => {
      for (let i = 0; i < 24; i++) {
        g.fillStyle = (v >> (23 - i)) & 1 ? '#fff' : '#000';
        g.fillRect(i * 16, r * 16, 16, 16);
      }
    });
    raf = requestAnimationFrame(draw);
  };
  raf = requestAnimationFrame(draw);
  return () => cancelAnimationFrame(raf);
} };
"""


def liveframe(transport: str = "auto") -> str:
    """The LiveFrame cell: the frames pushed from a producer thread, on ``transport``."""
    forced = "" if transport == "auto" else f", transport={transport!r}"
    return (
        f"from livecam_widget import LiveFrame\nview = LiveFrame(max_fps=60{forced})\n"
        "produce(view.update)\nview"
    )


CELLS = {
    "LiveFrame": [
        FRAMES,
        liveframe(),
    ],
    # The same LiveFrame forced onto the two other transports (docs/transports.md).
    "LiveFrame-proxy": [
        FRAMES,
        liveframe("proxy"),
    ],
    "LiveFrame-comm": [
        FRAMES,
        liveframe("comm"),
    ],
    # Camera-like frames on the comm (NOISY above), then the same with every binary kernel message turned
    # into a JSON array of numbers and back on arrival, as VS Code does between its extension host and a
    # notebook's webview (JSON_BUFFERS below).
    "LiveFrame-comm-noisy": [
        FRAMES + NOISY,
        liveframe("comm"),
    ],
    "LiveFrame-comm-noisy-json-buffers": [
        FRAMES + NOISY,
        liveframe("comm"),
    ],
    # A browser on another machine (see the module docstring): the default choice, and the comm.
    "LiveFrame-remote": [
        FRAMES,
        liveframe(),
    ],
    "LiveFrame-remote-comm": [
        FRAMES,
        liveframe("comm"),
    ],
    # The floor: no kernel, no transport. A canvas the page redraws every animation frame (a full 1280x720
    # fill plus the codes, stamped with the time of drawing), read the same way as the others.
    "canvas-floor": [
        "import anywidget\n"
        "class Floor(anywidget.AnyWidget):\n"
        f"    _esm = {FLOOR_ESM!r}\n"
        "view = Floor()\nview",
    ],
    "ipywidgets.Image": [
        FRAMES,
        "import ipywidgets as widgets\n"
        "view = widgets.Image(format='jpeg')\n"
        "def push(frame):\n"
        "    view.value = cv2.imencode('.jpg', frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()\n"
        "produce(push)\nview",
    ],
    "jupyter_rfb": [
        FRAMES,
        "import asyncio\nfrom jupyter_rfb import RemoteFrameBuffer\n"
        "class Camera(RemoteFrameBuffer):\n"
        "    seq = 0\n"
        "    def get_frame(self):\n"
        "        self.seq += 1\n"
        "        return make(self.seq)\n"
        "view = Camera(css_width='1280px', css_height='720px')\n"
        "def tick():\n"
        "    view.request_draw()\n"
        "    asyncio.get_event_loop().call_later(1 / 60, tick)\n"
        "tick()\nview",
    ],
}

# Reads the block codes from whatever shows the picture: LiveFrame's canvas or the peers' <img>.
READ = """(() => {
const decode = (data) => {
  const rows = [];
  for (let r = 0; r < 4; r++) {
    let v = 0;
    for (let i = 0; i < 24; i++) {
      let s = 0;
      for (let dy = 6; dy < 10; dy++) for (let dx = 6; dx < 10; dx++) {
        const p = ((r * 16 + dy) * 384 + i * 16 + dx) * 4;
        s += (data[p] + data[p + 1] + data[p + 2]) / 3;
      }
      v = v * 2 + (s / 16 > 127 ? 1 : 0);
    }
    rows.push(v);
  }
  return rows;
};
const pictureOf = (img) => {
  const c = (window.__benchCanvas ||= document.createElement('canvas'));
  c.width = 384; c.height = 64;
  const x = c.getContext('2d', { willReadFrequently: true });
  x.drawImage(img, 0, 0, 384, 64, 0, 0, 384, 64);
  return decode(x.getImageData(0, 0, 384, 64).data);
};
const shownImage = () =>
  [...document.querySelectorAll('.jp-OutputArea img')].find((i) => i.naturalWidth >= 384);
window.__benchRead = () => {
  const el = document.querySelector('canvas.livecam-canvas') || shownImage();
  if (!el) return null;
  const now = Date.now();
  if (el.tagName === 'IMG') {
    // An image whose new source is still loading cannot be drawn, and the page goes on showing the last
    // picture it had (jupyter_rfb sets a new source in every animation frame's callback, so at the
    // rendering its newest one is often still loading): report the last picture read from it.
    const rows = el.complete ? pictureOf(el) : null;
    if (rows && rows[0] !== 0 && (rows[0] ^ rows[1] ^ 0x5a5a5a) === rows[3]) window.__benchShown = rows;
    return window.__benchShown ? { rows: window.__benchShown, now } : null;
  }
  if (el.width < 384 || el.height < 64) return null;
  return { rows: decode(el.getContext('2d').getImageData(0, 0, 384, 64).data), now };
};
})();
// Every animation frame for `seconds`: what a person would see, frame by frame. Read in that frame's
// rendering step, after all its requestAnimationFrame callbacks and its layout, before it is painted: a
// ResizeObserver's callback runs there, and a probe element changes size every animation frame to make it
// run. So the read sees exactly what the frame paints: a widget's drawing in its own animation-frame
// callback is in (a read inside the callbacks could run before it), and one made in a task after the
// rendering is out (a read in a task after the rendering could run after it, and take a picture the
// display shows only at the next frame for this one).
window.__benchSample = (seconds) => new Promise((resolve) => {
  const out = [];
  const t0 = performance.now();
  const probe = document.createElement('div');
  probe.style.cssText = 'position:fixed;left:0;top:0;height:1px;width:1px;visibility:hidden';
  document.body.appendChild(probe);
  let flip = false, done = false;
  const observer = new ResizeObserver(() => {
    if (done) return;
    const got = window.__benchRead();
    if (got) {
      // A user-timing mark per read: in the browser's trace it ties this read to the frame it went out in.
      performance.mark(`livecam-read-${out.length}`);
      performance.clearMarks();
      out.push([got.rows, got.now, (performance.now() - t0) / 1000]);
    }
    if (performance.now() - t0 >= seconds * 1000) {
      done = true;
      observer.disconnect();
      probe.remove();
      resolve(out);
    }
  });
  observer.observe(probe);
  const tick = () => {
    if (done) return;
    flip = !flip;
    probe.style.width = flip ? '2px' : '1px';
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
});"""
CHECK, MASK = 0x5A5A5A, (1 << 24) - 1

# VS Code's notebook webviews get a kernel message's binary buffers as JSON arrays of numbers (its extension
# host serializes them for postMessage). This page script does that to every binary message on JupyterLab's
# kernel WebSocket before JupyterLab sees it: bytes -> JSON text -> parsed array -> bytes, on the page's main
# thread. In VS Code the first half runs in the extension host, so this costs the page more than VS Code
# would; __jsonBuffers counts what it did.
JSON_BUFFERS = """(() => {
  const Native = window.WebSocket;
  const stats = (window.__jsonBuffers = { messages: 0, bytes: 0, json_chars: 0, ms: 0 });
  class JsonBuffers extends Native {
    set onmessage(fn) {
      super.onmessage = (ev) => {
        if (typeof fn !== 'function') return;
        if (this.url.includes('/channels') && ev.data instanceof ArrayBuffer) {
          const t0 = performance.now();
          const text = JSON.stringify(Array.from(new Uint8Array(ev.data)));
          const data = Uint8Array.from(JSON.parse(text)).buffer;
          stats.messages++; stats.bytes += data.byteLength; stats.json_chars += text.length;
          stats.ms += performance.now() - t0;
          ev = new MessageEvent('message', { data });
        }
        fn.call(this, ev);
      };
    }
    get onmessage() { return super.onmessage; }
  }
  window.WebSocket = JsonBuffers;
})();"""


def decode(rows: list[int], now: float) -> tuple[int, float] | None:
    """(frame number, age in ms) from the four code rows, or None if they do not check out."""
    seq, ms, _, check = rows
    if seq == 0 or (seq ^ ms ^ CHECK) != check:
        return None
    return seq, float((int(now) - ms) & MASK)  # capture times are ms modulo 2**24


def read(page) -> tuple[int, float] | None:
    """(frame number, age in ms) of what is on screen now, or None if no valid code is readable."""
    page.page.evaluate(READ)
    got = page.page.evaluate("() => window.__benchRead()")
    return decode(got["rows"], got["now"]) if got else None


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of age (ms) over time (s): a growing queue shows a positive slope."""
    if len(points) < 3:
        return float("nan")
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else float("nan")


#: What the browser's trace needs to tell when each read frame reached the screen: the reads' user-timing
#: marks and the compositor's frame stages (commit, activation, presentation). Light: with these on,
#: LiveFrame's age at the read moved by under a millisecond.
TRACE_CATEGORIES = ["blink.user_timing", "disabled-by-default-devtools.timeline.frame"]


def to_screen(events: list[dict]) -> dict[int, tuple[float, float]]:
    """Read number -> (ms from that read to its picture being ready in the compositor, ms from the read to
    the presentation of the frame that carried it), from a Chromium trace of TRACE_CATEGORIES.

    A read happens in its frame's rendering step, before the frame is committed to the compositor; what was
    committed can be drawn once the compositor's tree it went into is activated, which waits for that tree's
    rasterization (an `<img>`'s new JPEG is decoded there); the compositor then draws it into the next frame
    it submits, and that frame is presented. So: the first commit after the read, the first activation after
    it ("ready"), and the presentation of the first compositor frame submitted after that activation.
    """
    marks: dict[int, tuple[int, float]] = {}
    for e in events:
        name = e.get("name", "")
        if name.startswith("livecam-read-"):
            marks[int(name.rsplit("-", 1)[1])] = (e["pid"], e["ts"])
    if not marks:
        return {}
    pid = next(iter(marks.values()))[0]
    mine = sorted((e for e in events if e.get("pid") == pid), key=lambda e: (e["ts"], e["ph"] != "e"))
    commits = [e["ts"] for e in mine if e["name"] == "Commit" and e["ph"] == "b"]
    activations = [e["ts"] for e in mine if e["name"] == "ActivateLayerTree"]
    # (submitted, presented) per compositor frame: frames are presented in the order they were submitted.
    submitted: list[tuple[float, float]] = []
    waiting: collections.deque[float] = collections.deque()
    for e in mine:
        if e["name"] == "SubmitCompositorFrameToPresentationCompositorFrame":
            if e["ph"] == "b":
                waiting.append(e["ts"])
            elif e["ph"] == "e" and waiting:
                submitted.append((waiting.popleft(), e["ts"]))
    submitted.sort()
    submit_times = [b for b, _ in submitted]

    def first(xs: list[float], t: float) -> float | None:
        i = bisect.bisect_left(xs, t)
        return xs[i] if i < len(xs) else None

    out = {}
    for n, (_, t) in marks.items():
        c = first(commits, t)
        a = first(activations, c) if c is not None else None
        i = bisect.bisect_left(submit_times, a) if a is not None else len(submitted)
        if a is not None and i < len(submitted):
            out[n] = ((a - t) / 1000, (submitted[i][1] - t) / 1000)
    return out


def measure(page, cdp, seconds: float) -> dict[str, float]:
    """Ages of what the page showed for ``seconds``: on screen (where the trace ties a read to the
    presentation of its frame, traced through ``cdp``, the page's DevTools session), and at the read."""
    page.page.evaluate(READ)
    events: list[dict] = []
    ended: list[bool] = []
    cdp.on("Tracing.dataCollected", lambda p: events.extend(p["value"]))
    cdp.on("Tracing.tracingComplete", lambda _: ended.append(True))
    config = {"includedCategories": TRACE_CATEGORIES}
    cdp.send("Tracing.start", {"transferMode": "ReportEvents", "traceConfig": config})
    try:
        sampled = page.page.evaluate("(s) => window.__benchSample(s)", seconds)
    finally:
        cdp.send("Tracing.end")
        deadline = time.monotonic() + 60
        while not ended and time.monotonic() < deadline:
            page.page.wait_for_timeout(100)
    screen = to_screen(events)
    at_read: list[tuple[float, float]] = []
    shown: list[tuple[float, float]] = []
    ready: list[float] = []
    compositor: list[float] = []
    seqs: set[int] = set()
    for n, (rows, now, at) in enumerate(sampled):
        got = decode(rows, now)
        if got is None:
            continue
        seqs.add(got[0])
        at_read.append((at, got[1]))
        if n in screen:
            to_ready, to_screen_ms = screen[n]
            shown.append((at, got[1] + to_screen_ms))
            ready.append(to_ready)
            compositor.append(to_screen_ms - to_ready)
    if not at_read:
        return {"samples": 0}
    # Where the trace could not tie reads to the screen (it should for all but the last frame or two),
    # the ages at the read stand in, and the row says so.
    points = shown if len(shown) >= 0.9 * len(at_read) else at_read
    ages = sorted(age for _, age in points)
    read_ages = sorted(age for _, age in at_read)
    ready.sort()
    compositor.sort()
    return {
        "samples": len(ages),
        "p50": pct(ages, 50),
        "p95": pct(ages, 95),
        "max": ages[-1],
        "slope": slope(points),
        "fps": len(seqs) / seconds,
        "read_p50": pct(read_ages, 50),
        "read_p95": pct(read_ages, 95),
        "ready_p50": pct(ready, 50) if ready else float("nan"),
        "compositor_p50": pct(compositor, 50) if compositor else float("nan"),
        "on_screen": points is shown,
    }


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile of sorted ``xs``, nearest rank below: what this table has always printed
    (bench.measure.percentile interpolates)."""
    return xs[min(len(xs) - 1, int(len(xs) * q / 100))]


def run_case(lab, page, name: str, throttle: float, seconds: float) -> dict[str, float]:
    if "-json-buffers" in name:
        page.page.context.add_init_script(JSON_BUFFERS)
    notebook = lab.add_notebook(f"bench_{name.replace('.', '_')}_{int(throttle)}.ipynb", CELLS[name])
    page.open_in(lab, notebook)
    page.run()
    errors = page.errors(range(len(CELLS[name])))
    if errors:
        raise RuntimeError(f"{name}: {errors}")
    deadline = time.monotonic() + 60
    while read(page) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: no readable frame on screen within 60 s")
        time.sleep(0.2)
    cdp = page.page.context.new_cdp_session(page.page)
    if throttle > 1:
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
    time.sleep(2.0)  # settle
    try:
        stats = measure(page, cdp, seconds)
        if "-json-buffers" in name:
            shim = page.page.evaluate("() => window.__jsonBuffers")
            n = max(1, shim["messages"])
            longer = shim["json_chars"] / max(1, shim["bytes"])
            print(
                f"  ({name}: {shim['messages']} binary messages, {shim['bytes'] / n / 1024:.0f} KiB each,"
                f" {longer:.1f}x as JSON text, {shim['ms'] / n:.2f} ms each)"
            )
        return stats
    finally:
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        lab.shutdown_kernels()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(CELLS))
    parser.add_argument(
        "--without-serverext",
        action="store_true",
        help="run JupyterLab without livecam's server extension (kernel WebSockets with Nagle's delay)",
    )
    args = parser.parse_args()
    config = {"ServerApp": {"jpserver_extensions": {"livecam_widget._serverext": False}}}
    names = [n for n in CELLS if not args.only or n in args.only.split(",")]
    from playwright.sync_api import sync_playwright

    results: list[tuple[str, str, dict[str, float]]] = []
    local = [n for n in names if not n.endswith(REMOTE)]
    remote = [n for n in names if n.endswith(REMOTE)]
    if remote and (os.geteuid() != 0 or shutil.which("ip") is None):
        print(f"  skipping {', '.join(remote)}: a browser in a network namespace needs root and iproute2")
        remote = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        base = pathlib.Path(tmp)
        if local:
            with running_server(
                "lab", base / "local", config=config if args.without_serverext else None
            ) as lab:
                results += run_cases(pw, lab, local, base, args.seconds, CHROMIUM)
        if remote:
            with (
                remote_machine() as (ns, address),
                running_server(
                    "lab", base / "remote", ip=address, config=config if args.without_serverext else None
                ) as lab,
            ):
                wrapper = base / "chromium-on-another-machine"
                wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} "$@"\n')
                wrapper.chmod(0o755)
                results += run_cases(pw, lab, remote, base, args.seconds, str(wrapper))
    print()
    server = "without" if args.without_serverext else "with"
    print(
        f"Freshness on screen, 1280x720 at 59.94 fps, {args.seconds:g} s per case,"
        f" JupyterLab ({server} livecam's server extension), headless Chromium"
    )
    head = f"{'widget':34} {'throttle':8} {'age p50':>8} {'p95':>7} {'max':>7} {'trend ms/s':>10}"
    print(f"{head} {'fps shown':>9} {'at read':>10} {'+ready':>6} {'+compositor':>10}")
    for name, label, stats in results:
        print(f"{name:34} {label:8} {format_row(stats)}")


def run_cases(pw, lab, names, base: pathlib.Path, seconds: float, chromium: str) -> list:
    """Each cell unthrottled and at CPU x6, each in a fresh Chromium profile; rows printed as they come."""
    results = []
    for name in names:
        for throttle in (1.0, 6.0):
            profile = base / f"profile-{name}-{throttle:g}"
            context, page = open_chromium(
                pw, profile, {"width": 1500, "height": 1200}, 120_000, [], None, chromium
            )
            try:
                stats = run_case(lab, page, name, throttle, seconds)
            finally:
                context.close()
            label = "none" if throttle == 1 else f"CPU x{throttle:g}"
            results.append((name, label, stats))
            print(f"  {name:34} {label:8} {format_row(stats)}", flush=True)
    return results


def format_row(s: dict[str, float]) -> str:
    if not s.get("samples"):
        return "no readable frame"
    row = f"{s['p50']:8.0f} {s['p95']:7.0f} {s['max']:7.0f} {s['slope']:10.1f} {s['fps']:9.1f}"
    row += f" {s['read_p50']:4.0f} /{s['read_p95']:4.0f} {s['ready_p50']:6.1f} {s['compositor_p50']:10.1f}"
    return row if s["on_screen"] else row + "  (ages at the read: the trace did not tie reads to the screen)"


if __name__ == "__main__":
    main()
