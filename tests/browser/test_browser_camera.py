"""The viewer's own camera (``LiveFrame("browser")``) in JupyterLab and Voila, with Chromium's fake camera.

The camera plays a Y4M file this test writes: lc_frames pictures numbered 1..N (looping), so a frame's
number can be read wherever it goes: in the kernel (``snapshot()``), and on screen after ``process`` wrote its
tag. Each transport is forced in turn; then a camera the user refuses; then the shipped notebook in Voila.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import shutil
from collections.abc import Iterator

import pytest
from lc_frames import LiveFrame, make, tagger
from livecam_e2e import (
    ARTIFACTS,
    METRICS,
    NOTEBOOKS,
    JupyterServer,
    Page,
    chromium_page,
    running_server,
    wait_for,
    write_y4m,
)

from livecam_widget import read_code

pytestmark = pytest.mark.browser

FRAMES = 90  # three seconds at 30 fps, then the fake camera loops
TAG = 4242
SETUP = "from lc_frames import *\nimport json\nfrom livecam_widget import read_code"


def numbered_camera(path: pathlib.Path) -> pathlib.Path:
    """Chromium's fake camera playing lc_frames pictures 1..FRAMES (numbers readable in the kernel)."""
    return write_y4m(path, (make(seq, t=0) for seq in range(1, FRAMES + 1)))


@contextlib.contextmanager
def camera_browser(
    request: pytest.FixtureRequest,
    tmp_path: pathlib.Path,
    allow: bool,
    cameras: int = 1,
    extra: list[str] | None = None,
) -> Iterator[Page]:
    """Chromium with ``cameras`` fake cameras (0: none, as on this machine), the first playing the Y4M;
    ``allow``: the permission prompt is answered yes."""

    tmp_path.mkdir(parents=True, exist_ok=True)
    args = list(extra or [])
    if cameras == 1:
        args += [
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={numbered_camera(tmp_path / 'camera.y4m')}",
        ]
    elif cameras > 1:  # Chromium's own moving test pictures, one per device
        args.append(f"--use-fake-device-for-media-stream=device-count={cameras}")
    if allow:
        args.append("--use-fake-ui-for-media-stream")
    with chromium_page(request, tmp_path / "profile", {"width": 1280, "height": 1200}, args) as page:
        page.page.context.add_init_script(LIVE_TRACKS)
        yield page


#: Counts the page's live camera tracks (what keeps a camera's light on), by watching getUserMedia.
LIVE_TRACKS = """
(() => {
  const media = navigator.mediaDevices;
  if (!media || !media.getUserMedia) return;
  const tracks = [];
  const original = media.getUserMedia.bind(media);
  media.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    tracks.push(...stream.getVideoTracks());
    return stream;
  };
  window.__lcLiveTracks = () => tracks.filter((t) => t.readyState === 'live').length;
})();
"""


def live_tracks(page: Page) -> int:
    return int(page.page.evaluate("() => window.__lcLiveTracks ? window.__lcLiveTracks() : -1"))


def kernel_view(page: Page, cell: int) -> dict:
    page.run(cell)
    assert page.errors([cell]) == []
    return dict(json.loads(page.text(cell)))


PROBE = (
    "s = lf.snapshot()\n"
    "print(json.dumps({'seq': read_code(s, 24, y=0), 'tag': read_code(s, 24, y=32),"
    " 'camera': lf.stats.get('camera'), 'latency_ms': lf.stats.get('latency_ms'), 'error': lf.error}))"
)


@pytest.mark.parametrize("transport", ["websocket", "proxy", "comm"])
def test_the_viewers_camera_reaches_python_and_comes_back_processed(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path, lab: JupyterServer, transport: str
) -> None:
    name = lab.add_notebook(
        f"camera_{transport}.ipynb",
        [
            f"{SETUP}\nlf = LiveFrame('browser:480x240@30', process=tagger({TAG}), "
            f"transport={transport!r})\nlf",
            PROBE,
            "import time\ntime.sleep(4)",
            "lf.close()",
            "lf.stop()",
            "lf.start()",
        ],
    )
    try:
        with camera_browser(request, tmp_path, allow=True) as page:
            page.open_in(lab, name)
            page.run(0)
            assert page.errors([0]) == []
            seqs = page.wait_advancing(0, steps=10, timeout=60)  # camera frames, numbered, rising on screen
            view = page.view(0)
            assert view is not None and view.transport == transport and view.tag == TAG  # `process` ran
            root = page.page.locator(".livecam").first
            assert root.get_attribute("data-livecam-camera") == "capturing"
            if transport != "comm":
                # The kernel's main thread busy in a cell: the camera's frames still reach it and come back.
                ticket = page.run(2, wait=False)
                busy = page.wait_advancing(0, steps=20, timeout=30)
                assert not page.run_done(ticket), "the busy cell ended before 20 new frames showed"
                page.wait_run(ticket)
                METRICS[f"camera_{transport}_frames_while_a_cell_ran"] = len(busy)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            hover = root.bounding_box()
            assert hover is not None
            page.page.mouse.move(hover["x"] + 40, hover["y"] + 100)  # shows the controls (camera button too)
            root.screenshot(path=str(ARTIFACTS / f"camera_{transport}.png"))
            first = kernel_view(page, 1)
            assert 1 <= first["seq"] <= 90 and first["tag"] == TAG and first["error"] is None, first

            def received() -> dict | None:
                got = kernel_view(page, 1)
                return got if got["camera"] and got["camera"]["received"] >= 30 else None

            got = wait_for(received, 30, "30 camera frames in the kernel", interval=0.5)
            camera = got["camera"]
            assert camera["capturing"] and camera["fps_browser"] and camera["fps_received"] > 5, got
            if transport == "websocket":
                assert live_tracks(page) == 1
                page.run(4)  # lf.stop(): the camera's light goes off until lf.start()
                wait_for(lambda: live_tracks(page) == 0, 10, "the camera to stop while paused")
                page.run(5)
                wait_for(lambda: live_tracks(page) == 1, 10, "the camera to start again")
                page.wait_advancing(0, steps=5, timeout=30, key=lambda v: v.painted)
                page.run(3)  # lf.close(): the view says closed, and its camera is stopped
                page.wait_view(0, lambda v: v.state == "closed", 15, "the view to say closed")
                assert root.get_attribute("data-livecam-camera") == "off"
                assert live_tracks(page) == 0
                root.focus()
                page.page.keyboard.press(" ")  # pause: nothing to pause on a closed view
                root.locator("[data-livecam-control='pause']").click(force=True)
                assert root.get_attribute("data-livecam-paused") != "1"
            METRICS[f"camera_{transport}"] = {
                "fps_received": camera["fps_received"],
                "fps_browser": camera["fps_browser"],
                "capture_to_paint_ms": got["latency_ms"],
                "clock_trip_ms": camera["clock_trip_ms"],
                "frames_on_screen_rising": len(seqs),
            }
    finally:
        lab.shutdown_kernels()


def test_a_refused_camera_is_a_clear_error_in_the_view_and_in_python(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path, lab: JupyterServer
) -> None:
    cells = [f"{SETUP}\nlf = LiveFrame('browser')\nlf", "print(lf.error)"]
    name = lab.add_notebook("camera_refused.ipynb", cells)
    try:
        with camera_browser(request, tmp_path, allow=False) as page:
            page.open_in(lab, name)
            page.run(0)
            view = page.wait_view(0, lambda v: v.state == "error", 30, "the view to show the camera error")
            assert view.status and "permission denied" in view.status, view
            assert page.page.locator(".livecam").first.get_attribute("data-livecam-camera") == "refused"

            def error() -> str | None:
                page.run(1)
                text = page.text(1)
                return text if "permission denied" in text else None

            assert "NotAllowedError" in wait_for(error, 15, "lf.error in the kernel", interval=0.5)
            # The user allows the camera for the page: the view starts it by itself, and the error clears.
            page.page.context.grant_permissions(["camera"], origin=lab.base)
            page.wait_view(0, lambda v: v.state == "live" and v.painted > 5, 30, "the camera once allowed")
            assert page.page.locator(".livecam").first.get_attribute("data-livecam-camera") == "capturing"
    finally:
        lab.shutdown_kernels()


@pytest.fixture(scope="module")
def voila_camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """Voila serving the shipped notebooks/browser_camera.ipynb."""
    base = tmp_path_factory.mktemp("voila-camera")
    (base / "root").mkdir()
    shutil.copy(NOTEBOOKS / "browser_camera.ipynb", base / "root" / "browser_camera.ipynb")
    with running_server("voila", base, "browser_camera.ipynb") as server:
        yield server


#: Canvas pixels the notebook's `process` paints (yellow edges), counted in the view's canvas.
YELLOW = """() => {
  const c = document.querySelector('.livecam canvas.livecam-canvas');
  if (!c || !c.width) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] > 170 && d[i + 1] > 170 && d[i + 2] < 110) n++;
  return n;
}"""


def test_the_shipped_notebook_in_voila_shows_the_processed_camera(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path, voila_camera: JupyterServer
) -> None:
    with camera_browser(request, tmp_path, allow=True) as page:
        page.goto(f"{voila_camera.base}/")
        # The notebook mirrors the picture (its last cell), so the frame numbers read backwards: count paints.
        seqs = page.wait_advancing(None, steps=10, timeout=90, key=lambda v: v.painted)
        assert page.page.locator(".livecam").first.get_attribute("data-livecam-camera") == "capturing"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.page.screenshot(path=str(ARTIFACTS / "camera_voila.png"))
        yellow = page.page.evaluate(YELLOW)  # the source (lc_frames pictures) has none
        assert yellow > 100, f"the notebook's edges (its `process`) are not on screen: {yellow} yellow pixels"
        METRICS["camera_voila"] = {"paints_seen": len(seqs), "yellow_edge_pixels": yellow}


def test_the_standalone_page_captures_too(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> None:
    """No Jupyter: the `livecam serve browser` page (here the same page of an in-process widget)."""
    with (
        LiveFrame("browser:480x240@30", process=tagger(TAG)) as lf,
        camera_browser(request, tmp_path, allow=True) as page,
    ):
        page.goto(lf.page_url)
        page.wait_advancing(None, steps=10, timeout=60)
        assert page.view(None).tag == TAG  # type: ignore[union-attr]
        snapshot = lf.snapshot()
        assert snapshot is not None and 1 <= read_code(snapshot, 24, y=0) <= FRAMES


def test_one_view_captures_the_button_takes_over_and_a_view_that_goes_hands_back(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path, lab: JupyterServer
) -> None:
    """Two views of one widget: the first captures, the other watches; the other's camera button takes the
    camera over; when that view goes away (its output cleared), the first captures again on its own."""
    cells = [f"{SETUP}\nlf = LiveFrame('browser:480x240@30', process=tagger({TAG}))\nlf", "lf"]
    name = lab.add_notebook("camera_two_views.ipynb", cells)

    def role(cell: int) -> str | None:
        box = page.page.locator(f".jp-Notebook .jp-Cell:nth-child({cell + 1}) .livecam")
        return box.first.get_attribute("data-livecam-camera") if box.count() else None

    try:
        with camera_browser(request, tmp_path, allow=True) as page:
            page.open_in(lab, name)
            page.run(0)
            wait_for(lambda: role(0) == "capturing", 30, "the first view to capture")
            page.run(1)
            wait_for(lambda: role(1) == "watching", 30, "the second view to watch")
            page.wait_advancing(1, steps=5, timeout=30)  # it shows the first view's camera, processed
            button = page.page.locator(".jp-Notebook .jp-Cell:nth-child(2) [data-livecam-control='camera']")
            button.first.click(force=True)  # hover controls: force, as a user's hover would reveal it
            wait_for(lambda: role(1) == "capturing" and role(0) == "watching", 30, "the button to take over")
            # Another getUserMedia stream: the fake camera's file starts over, so count paints, not numbers.
            painted = lambda v: v.painted  # noqa: E731
            page.wait_advancing(0, steps=5, timeout=30, key=painted)
            page.page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.content.widgets[1].model.outputs.clear()"
            )
            wait_for(lambda: role(0) == "capturing", 30, "the first view to capture again")
            page.wait_advancing(0, steps=5, timeout=30, key=painted)
    finally:
        lab.shutdown_kernels()


def test_no_camera_and_an_insecure_page_are_clear_errors(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    """This machine has no camera: without a fake one, getUserMedia finds none. And a page on a plain-http
    host other than localhost is no secure context: the browser hides the camera API altogether."""
    with (
        LiveFrame("browser") as lf,
        camera_browser(request, tmp_path / "none", allow=True, cameras=0) as page,
    ):
        page.goto(lf.page_url)
        view = page.wait_view(None, lambda v: v.state == "error", 30, "the no-camera error")
        assert view.status and "no camera found" in view.status, view
        wait_for(lambda: lf.error and "NotFoundError" in lf.error, 10, "lf.error")
    with LiveFrame("browser", allowed_origins=["http://camera.test:*"]) as lf:
        # camera.test resolves to 127.0.0.1 for this browser only (the request never leaves the machine).
        rules = ["--host-resolver-rules=MAP camera.test 127.0.0.1"]
        with camera_browser(request, tmp_path / "insecure", allow=True, extra=rules) as page:
            page.goto(lf.page_url.replace("127.0.0.1", "camera.test"))
            view = page.wait_view(None, lambda v: v.state == "error", 30, "the insecure-page error")
            assert view.status and "needs a secure page" in view.status, view
        assert lf.error and "InsecureContext" in lf.error


#: A camera another program holds: the browser's getUserMedia fails as Chromium's does then.
CAMERA_BUSY = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException('Could not start video source', 'NotReadableError'));
"""


def test_a_camera_in_use_elsewhere_is_a_clear_error(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    """No fake device can be made busy, so the page's getUserMedia is replaced by one failing the way a
    camera held by another program does; what is tested is everything after it."""
    with LiveFrame("browser") as lf, camera_browser(request, tmp_path, allow=True) as page:
        page.page.context.add_init_script(CAMERA_BUSY)
        page.goto(lf.page_url)
        view = page.wait_view(None, lambda v: v.state == "error", 30, "the camera-in-use error")
        assert view.status and "in use by another program" in view.status, view
        wait_for(lambda: lf.error and "NotReadableError" in lf.error, 10, "lf.error")
        assert lf.snapshot() is None and lf.state == "live"  # nothing came; the widget is unharmed


def test_the_camera_menu_switches_between_cameras(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    with LiveFrame("browser:320x240") as lf, camera_browser(request, tmp_path, allow=True, cameras=2) as page:
        page.goto(lf.page_url)
        menu = page.page.locator("select.livecam-camera-select")
        wait_for(
            lambda: menu.count() and menu.first.is_visible() and menu.locator("option").count() == 2,
            30,
            "a camera menu with two cameras",
        )
        first = menu.first.input_value()
        other = next(o for o in menu.locator("option").all() if o.get_attribute("value") != first)
        menu.first.select_option(other.get_attribute("value"))
        wait_for(lambda: menu.first.input_value() != first, 10, "the other camera chosen")
        before = (lf.stats.get("camera") or {}).get("received", 0)
        wait_for(
            lambda: (lf.stats.get("camera") or {}).get("received", 0) > before + 10,
            15,
            "frames from the other camera",
        )
        snapshot = lf.snapshot()
        assert snapshot is not None and snapshot.shape[2] == 3
