"""The view's own features in JupyterLab 4: stats overlay, hover controls, keyboard shortcuts, snapshot
download, fullscreen and 1:1 pixels; proved from pixels, the DOM and the kernel's own counters."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import time

import cv2
import numpy as np
import pytest
from livecam_e2e import ARTIFACTS, REPO, wait_for

pytestmark = pytest.mark.browser

SETUP = "from lc_frames import *\nimport json, time"
LIVE = f"{SETUP}\nlf = LiveFrame(Counter(), fps=30)\nlf"
#: The kernel's view of the one viewer: encodes of the stream and grants this viewer sent.
COUNTS = (
    "s = lf._session.stream\n"
    "print(json.dumps([s.cache.encodes, [c.core.requests for c in s.viewers]]))"
)

#: RGBA pixels of a cell's first canvas, base64, so Python can compare them with a decoded PNG.
CANVAS_RGBA = """(cell) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const canvas = panel.content.widgets[cell].node.querySelector('canvas.livecam-canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let s = '';
  for (let i = 0; i < data.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
  }
  return [canvas.width, canvas.height, btoa(s)];
}"""


def tour_png() -> pathlib.Path:
    """Where the tour screenshot goes: the README's docs/img/tour.png only with LIVECAM_WRITE_TOUR=1, so
    that a test run leaves the checkout clean; else the artifacts folder, beside the other screenshots."""
    if os.environ.get("LIVECAM_WRITE_TOUR") == "1":
        return REPO / "docs" / "img" / "tour.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / "tour.png"


def box(page, cell: int):
    """The .livecam container of the first view in ``cell``."""
    return page.page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(cell).locator(".livecam").first


def overlay_text(page, cell: int) -> str:
    return str(box(page, cell).locator(".livecam-overlay").inner_text())


def counts(page, cell: int) -> tuple[int, list[int]]:
    page.run(cell)
    encodes, requests = json.loads(page.text(cell))
    return encodes, requests


def test_overlay_reports_kernel_numbers_while_the_cell_runs(nb):
    """Item 1: the overlay shows painted/source fps, latency, frame size and bytes, drops and the transport,
    and the kernel's numbers keep arriving while the very cell that shows the widget is still running.
    Also saves the README's tour screenshot (overlay and controls visible; see tour_png)."""
    lab, page = nb
    lab.add_notebook(
        "overlay.ipynb",
        [
            f"{SETUP}\nlf = LiveFrame(Counter(), fps=30, overlay=True)\ndisplay(lf)\n"
            "time.sleep(8)\nprint('slept')",
            "print(lf.overlay)",
            "print(lf)",
        ],
    )
    page.open_in(lab, "overlay.ipynb")
    ticket = page.run(0, wait=False)
    page.wait_advancing(0, steps=5)

    def kernel_numbers():
        text = overlay_text(page, 0)
        return text if "source 3" in text or "source 2" in text else None

    text = wait_for(
        kernel_numbers,
        6,
        "the source fps from the kernel in the overlay",
        on_timeout=lambda: overlay_text(page, 0),
    )
    assert not page.run_done(ticket), "the cell finished: this did not test a busy kernel"
    assert "480x240" in text and "KiB" in text, text
    assert "latency" in text and "dropped" in text and "via websocket" in text, text
    assert box(page, 0).locator(".livecam-overlay").is_visible()

    box(page, 0).hover()  # shows the controls, for the screenshot
    wait_for(
        lambda: box(page, 0).locator(".livecam-controls").evaluate("e => getComputedStyle(e).opacity") == "1",
        5,
        "controls shown on hover",
    )
    box(page, 0).screenshot(path=str(tour_png()))
    page.wait_run(ticket)

    box(page, 0).locator('[data-livecam-control="overlay"]').click()
    wait_for(
        lambda: not box(page, 0).locator(".livecam-overlay").is_visible(), 5, "overlay hidden by its button"
    )
    wait_for(
        lambda: page.run(1) and page.text(1).strip() == "False", 10, "lf.overlay synced back to the kernel"
    )
    page.run(2)
    summary = page.text(2)
    assert summary.startswith("<LiveFrame live 480x240 fps_source=") and "bytes_per_frame=" in summary, (
        summary
    )


def test_pause_this_view_stops_requests_and_encodes(nb):
    """Item 2: the pause button stops this view's grants: the kernel sees no request and encodes nothing,
    the picture holds still; space (with the view focused) resumes it."""
    lab, page = nb
    lab.add_notebook("pause.ipynb", [LIVE, COUNTS])
    page.open_in(lab, "pause.ipynb")
    page.run(0)
    page.wait_advancing(0, steps=5)
    box(page, 0).locator('[data-livecam-control="pause"]').click()
    page.wait_view(0, lambda v: v.state == "paused", 5, "the view paused")
    time.sleep(0.5)  # the grant in flight when the button was pressed may still be answered
    before, seq = counts(page, 1), page.view(0).seq
    time.sleep(2.0)
    after = counts(page, 1)
    assert after == before, f"paused view still costs: (encodes, requests) {before} -> {after}"
    assert page.view(0).seq == seq and page.view(0).status == "paused"

    box(page, 0).focus()
    page.page.keyboard.press(" ")
    page.wait_advancing(0, steps=5)
    resumed = counts(page, 1)
    assert resumed[0] > after[0] and resumed[1][0] > after[1][0]


def test_snapshot_downloads_the_exact_canvas_pixels(nb):
    """Item 2: the snapshot button downloads a PNG whose decoded pixels are exactly the canvas's."""
    lab, page = nb
    lab.add_notebook("snap.ipynb", [LIVE])
    page.open_in(lab, "snap.ipynb")
    page.run(0)
    page.wait_advancing(0, steps=5)
    box(page, 0).focus()
    page.page.keyboard.press(" ")  # hold the picture still, so canvas and download are the same frame
    page.wait_view(0, lambda v: v.state == "paused", 5, "paused")
    time.sleep(0.5)
    with page.page.expect_download() as info:
        box(page, 0).locator('[data-livecam-control="snapshot"]').click()
    download = info.value
    path = download.path()
    assert download.suggested_filename.endswith(".png")
    png = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert png is not None and png.shape == (240, 480, 4), None if png is None else png.shape
    width, height, data = page.page.evaluate(CANVAS_RGBA, 0)
    canvas = np.frombuffer(base64.b64decode(data), np.uint8).reshape(height, width, 4)
    np.testing.assert_array_equal(cv2.cvtColor(png, cv2.COLOR_BGRA2RGBA), canvas)
    assert download.suggested_filename == f"livecam-{page.view(0).seq}.png"


IS_CODE = "(cell) => window.jupyterapp.shell.currentWidget.content.widgets[cell].model.type"


def test_native_pixels_and_fullscreen_change_layout(nb):
    """Item 2: "1" (focused) shows 1:1 pixels, without the notebook taking the key (the cell stays code);
    the fullscreen button fills the screen with the picture."""
    lab, page = nb
    lab.add_notebook("layout.ipynb", [f"{SETUP}\nlf = LiveFrame('testpattern:1800x300', fps=30)\nlf"])
    page.open_in(lab, "layout.ipynb")
    page.run(0)
    page.wait_view(0, lambda v: v.state == "live" and v.width == 1800, 30, "a wide frame on screen")
    canvas = box(page, 0).locator("canvas")
    fit = canvas.bounding_box()
    assert fit is not None and fit["width"] < 1280, fit
    assert box(page, 0).get_attribute("data-livecam-fit") == "fit"

    box(page, 0).focus()
    page.page.keyboard.press("1")
    wait_for(lambda: box(page, 0).get_attribute("data-livecam-fit") == "native", 5, "1:1 mode")
    dpr = page.page.evaluate("() => devicePixelRatio")
    native = canvas.bounding_box()
    assert native is not None and abs(native["width"] - 1800 / dpr) < 1, native
    assert canvas.evaluate("e => getComputedStyle(e).imageRendering") == "pixelated"
    assert page.page.evaluate(IS_CODE, 0) == "code", "the notebook took the key: cell type changed"
    page.page.keyboard.press("1")
    wait_for(lambda: box(page, 0).get_attribute("data-livecam-fit") == "fit", 5, "back to fit")
    assert canvas.evaluate("e => getComputedStyle(e).imageRendering") != "pixelated"

    # HiDPI (device pixel ratio 2): the canvas keeps the frame's pixels; fit mode shows them at up to the
    # cell's width, 1:1 maps one frame pixel to one device pixel, i.e. half the CSS width.
    cdp = page.page.context.new_cdp_session(page.page)
    cdp.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 1600, "deviceScaleFactor": 2, "mobile": False},
    )
    try:
        assert page.page.evaluate("() => devicePixelRatio") == 2
        assert page.view(0).width == 1800, "the canvas backing store must stay the frame's size"
        box(page, 0).focus()
        page.page.keyboard.press("1")
        wait_for(lambda: abs(canvas.bounding_box()["width"] - 900) < 1, 5, "1:1 at DPR 2: 900 CSS px")
        page.page.keyboard.press("1")
        wait_for(lambda: box(page, 0).get_attribute("data-livecam-fit") == "fit", 5, "back to fit")
    finally:
        cdp.send("Emulation.clearDeviceMetricsOverride")

    box(page, 0).locator('[data-livecam-control="fullscreen"]').click()
    wait_for(
        lambda: page.page.evaluate("() => document.fullscreenElement?.className") == "livecam",
        5,
        "fullscreen",
    )
    viewport = page.page.evaluate("() => [innerWidth, innerHeight]")
    full = canvas.bounding_box()
    assert full is not None and abs(full["width"] - viewport[0]) < 2, (full, viewport)
    box(page, 0).locator('[data-livecam-control="fullscreen"]').click()
    wait_for(lambda: page.page.evaluate("() => document.fullscreenElement") is None, 5, "fullscreen left")

    # Unfocused, the view's keys are the notebook's: "i" does not toggle the overlay.
    page.page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.page.keyboard.press("i")
    time.sleep(0.3)
    assert not box(page, 0).locator(".livecam-overlay").is_visible()
    # Focused, keys the view does not handle still reach the notebook: "b" inserts a cell below.
    cells = page.cell_count()
    box(page, 0).focus()
    page.page.keyboard.press("b")
    wait_for(lambda: page.cell_count() == cells + 1, 5, "the notebook's own 'b' shortcut")


def test_width_and_height_keep_the_aspect_and_follow_the_cell(nb):
    """Item 3: width/height (CSS px) bound the picture with its aspect kept, change live from the kernel;
    the canvas keeps the frame's own pixels; auto size shrinks with its cell when the page narrows."""
    lab, page = nb
    lab.add_notebook(
        "size.ipynb",
        [
            f"{SETUP}\nlf = LiveFrame(Counter(), fps=30, width=300)\nlf",
            "lf.height = 100",
            "lf.width = 0\nlf.height = 0\nwide = LiveFrame('testpattern:1800x300', fps=10)\nwide",
        ],
    )
    page.open_in(lab, "size.ipynb")
    page.run(0)
    page.wait_advancing(0, steps=3)
    canvas = box(page, 0).locator("canvas")

    def size_is(w: float, h: float):
        def check():
            b = canvas.bounding_box()
            return b if b and abs(b["width"] - w) < 1 and abs(b["height"] - h) < 1 else None

        return wait_for(check, 10, f"the picture at {w}x{h} CSS px", on_timeout=canvas.bounding_box)

    size_is(300, 150)
    assert (page.view(0).width, page.view(0).height) == (480, 240), "the canvas lost the frame's pixels"
    page.run(1)
    size_is(200, 100)  # width 300 and height 100: the height is the tighter bound
    page.run(2)
    size_is(480, 240)  # both 0: the frame's own size, the cell being wider
    assert page.errors(range(3)) == []
    wide = box(page, 2).locator("canvas")
    page.wait_view(2, lambda v: v.width == 1800, 30, "the wide frame on screen")
    before = wide.bounding_box()
    page.page.set_viewport_size({"width": 800, "height": 1600})

    def shrunk():
        b = wide.bounding_box()
        return b if b and b["width"] < before["width"] - 100 else None

    after = wait_for(shrunk, 10, "the picture to shrink with its cell", on_timeout=wide.bounding_box)
    assert abs(after["width"] / after["height"] - 6.0) < 0.05, after
    assert after["width"] <= 800


def test_click_and_drag_reach_python_in_frame_pixels_while_a_cell_runs(nb):
    """Item 4: the picture shown at half size (width=240 for a 480x240 frame); a click and a drag arrive in
    Python in source frame pixels, on the handler thread, while another cell is still running."""
    lab, page = nb
    lab.add_notebook(
        "pointer.ipynb",
        [
            f"{SETUP}\nimport threading\nlf = LiveFrame(Counter(), fps=30, width=240)\nevents = []\n"
            "lf.on_click(lambda x, y, b: events.append(['click', x, y, b, time.time(), "
            "threading.current_thread().name]))\n"
            "lf.on_drag(lambda *r: events.append(['drag', *r, time.time()]))\nlf",
            "t0 = time.time()\ntime.sleep(6)\nt1 = time.time()\n"
            "print(json.dumps({'t0': t0, 't1': t1, 'events': events}))",
        ],
    )
    page.open_in(lab, "pointer.ipynb")
    page.run(0)
    page.wait_advancing(0, steps=3)
    canvas = box(page, 0).locator("canvas")
    b = canvas.bounding_box()
    assert b is not None and abs(b["width"] - 240) < 1
    ticket = page.run(1, wait=False)
    time.sleep(1.0)  # the cell is sleeping now
    canvas.click(position={"x": 100, "y": 50})
    mouse = page.page.mouse
    mouse.move(b["x"] + 120, b["y"] + 70)
    mouse.down()
    mouse.move(b["x"] + 60, b["y"] + 40, steps=5)
    mouse.move(b["x"] + 20, b["y"] + 10, steps=5)
    mouse.up()
    assert not page.run_done(ticket), "the cell finished before the pointer events: not a busy kernel"
    page.wait_run(ticket)
    out = json.loads(page.text(1))
    events = out["events"]
    assert [e[:4] for e in events[:1]] + [e[:5] for e in events[1:]] == [
        ["click", 200, 100, 0],
        ["drag", 40, 20, 240, 140],
    ], events
    assert events[0][5] == "livecam-pointer"
    times = [events[0][4], events[1][5]]
    assert all(out["t0"] < t < out["t1"] for t in times), "a handler ran only after the cell"


LOWER = (
    "door, viewers = lf._session.server.door, lf._session.stream.viewers\n"
    "door.call(lambda: [setattr(c.core.quality, 'level', 5) for c in viewers])\n"
    "print(door.call(lambda: [c.core.quality.level for c in viewers]))"
)


def test_auto_quality_lowered_resolution_keeps_the_picture_size(nb):
    """Item 6: a view put on the ladder's last step (half resolution) still shows a 480x240 picture at the
    same place and size, its codes still readable, and the overlay says it was lowered."""
    lab, page = nb
    lab.add_notebook(
        "auto.ipynb", [f"{SETUP}\nlf = LiveFrame(Counter(), fps=30, quality='auto', overlay=True)\nlf", LOWER]
    )
    page.open_in(lab, "auto.ipynb")
    page.run(0)
    page.wait_advancing(0, steps=5)
    before = box(page, 0).locator("canvas").bounding_box()
    page.run(1)
    assert page.text(1).strip() == "[5]"
    text = wait_for(
        lambda: (t := overlay_text(page, 0)) and "240x120 (of 480x240)" in t and t,
        10,
        "half-resolution frames on screen",
        on_timeout=lambda: overlay_text(page, 0),
    )
    assert "480x240" not in text.split("(of")[0]
    # The kernel's next stats tick tells the view (it may have climbed one step back by then).
    wait_for(
        lambda: re.search(r"quality: step [45] down", overlay_text(page, 0)),
        5,
        "the overlay to say the view was lowered",
        on_timeout=lambda: overlay_text(page, 0),
    )
    view = page.view(0)
    assert (view.width, view.height) == (480, 240), "the canvas must keep the full size"
    assert box(page, 0).locator("canvas").bounding_box() == before
    page.wait_advancing(0, steps=5)  # 16 px code blocks survive half resolution
