"""Every view tells the truth, in JupyterLab 4: a clip that ended says "ended", ``lf.stop()`` says "paused",
the "live" badge fades under ``badge="auto"`` (stays under "on", hides under "off" but errors still show), a
view scrolled away says "hidden", an error text is readable with the hover controls shown, and a closed view
names the transport it really used and shows no stale rates.

One Lab server, one Chromium page and one notebook (one kernel) for the whole module, to keep it quick: the
fixture runs the widget cells once, and each test drives its own widget (cells below). Tests run in file
order; each leaves the widgets it touched as it found them, except the last (close). Every claim is read from
the DOM (state attributes, badge text, computed style, bounding boxes) or from the canvas pixels, and every
case leaves a screenshot in ARTIFACTS/test_truth_lab/.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from livecam_e2e import ARTIFACTS, Page, keep_artifacts, open_chromium, wait_for

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "test_truth_lab"

#: The cells, by index. Cell 0 is the tests' scratch cell: at the top, so running it scrolls no view away
#: (the page is tall enough to show every view at once). The clip is 20 frames at 10 fps (2 s); its frames
#: carry lc_frames' codes, so the canvas says which frame it shows (JPEG survives: 16 px blocks).
SCRATCH, SETUP, CLIP, AUTO, ON, OFF, PROXY, GONE, SPACER = range(9)
CELLS: list[str | tuple[str, str]] = [
    "pass",
    "from lc_frames import *\nimport cv2, tempfile, os\n"
    "clip_path = os.path.join(tempfile.mkdtemp(), 'clip.avi')\n"
    "out = cv2.VideoWriter(clip_path, cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (W, H))\n"
    "for i in range(1, 21):\n    out.write(make(i))\nout.release()\n"
    "fail = {'on': False}\n"
    "def boom(frame):\n"
    "    if fail['on']:\n"
    "        raise ValueError('exploded on purpose 4242: this error text is long enough to need more than '\n"
    "                         'one line in a narrow view, where it must not run under the hover controls')\n"
    "    return frame",
    "clip = LiveFrame(clip_path)\nclip",
    "auto = LiveFrame(Counter(), fps=20)\nauto",
    "on = LiveFrame(Counter(), fps=20, badge='on', overlay=True)\non",
    "off = LiveFrame(Counter(), fps=20, badge='off', width=320, process=boom)\noff",
    "px = LiveFrame(Counter(), fps=20, transport='proxy', overlay=True)\npx",
    "gone = LiveFrame(Counter(), fps=20, overlay=True)\ndisplay(gone)\ngone.close()",
    ("markdown", "spacer\n\n" * 120),  # tall: scrolling to its end takes the views above out of sight
]


def box(page: Page, cell: int) -> Any:
    """The .livecam container of the first view in ``cell``."""
    return page.page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(cell).locator(".livecam").first


def badge_style(page: Page, cell: int) -> dict[str, Any]:
    """What the badge really looks like: text, opacity and visibility as computed."""
    return (
        box(page, cell)
        .locator(".livecam-status")
        .evaluate(
            "e => ({text: e.textContent, opacity: Number(getComputedStyle(e).opacity),"
            " visibility: getComputedStyle(e).visibility})"
        )
    )


def badge_seen(page: Page, cell: int) -> bool:
    s = badge_style(page, cell)
    return s["opacity"] > 0.3 and s["visibility"] == "visible"


def badge_gone(page: Page, cell: int) -> bool:
    s = badge_style(page, cell)
    return s["opacity"] == 0 or s["visibility"] == "hidden"


def overlay_text(page: Page, cell: int) -> str:
    return str(box(page, cell).locator(".livecam-overlay").inner_text())


def shot(page: Page, cell: int, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    box(page, cell).screenshot(path=str(SHOTS / f"{name}.png"))


def run(page: Page, code: str) -> str:
    """Run ``code`` in the scratch cell (the top one); its printed text."""
    page.page.evaluate(
        "(code) => window.jupyterapp.shell.currentWidget.content.widgets[0]"
        ".model.sharedModel.setSource(code)",
        code,
    )
    page.run(SCRATCH)
    assert page.errors([SCRATCH]) == [], page.errors([SCRATCH])
    return page.text(SCRATCH)


@pytest.fixture(scope="module")
def truth(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """One Chromium page with the notebook open and every widget cell run; the kernel goes at the end."""
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    with sync_playwright() as pw:
        context, page = open_chromium(
            pw, tmp_path_factory.mktemp("truth") / "profile", {"width": 1280, "height": 2200}, 60_000, console
        )
        try:
            page.page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
            page.page.on("pageerror", lambda exc: console.append(f"[pageerror] {exc}"))
            lab.add_notebook("truth.ipynb", CELLS)
            page.open_in(lab, "truth.ipynb")
            for cell in range(SETUP, SPACER):
                page.run(cell)
            assert page.errors(range(SPACER)) == []
            yield page
        finally:
            lab.shutdown_kernels()
            with contextlib.suppress(Exception):
                context.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, truth: Page) -> Iterator[Page]:
    """The shared page; a failing test keeps its screenshot, console and HTML."""
    yield truth
    failed = any(
        getattr(request.node, f"rep_{w}", None) and getattr(request.node, f"rep_{w}").failed
        for w in ("setup", "call")
    )
    if failed:
        keep_artifacts(request.node.name, truth.page, truth.console, True)


def test_a_clip_that_ended_says_ended_and_keeps_its_last_frame(page: Page) -> None:
    view = page.wait_view(CLIP, lambda v: v.state == "ended", 20, "the clip's view to say ended")
    assert view.status == "ended"
    assert badge_seen(page, CLIP), badge_style(page, CLIP)  # "auto" shows every state but live
    assert view.seq == 20, f"the last frame is not on screen: {view.rows}"
    time.sleep(0.5)
    again = page.view(CLIP)
    assert again.state == "ended" and again.seq == 20
    shot(page, CLIP, "ended")


def test_auto_badge_fades_once_live_and_on_keeps_it(page: Page) -> None:
    page.wait_advancing(AUTO, steps=3)
    page.wait_advancing(ON, steps=3)
    # Live for 2.5 s with a picture, then it fades; the state and the text stay for whoever reads them.
    wait_for(
        lambda: badge_gone(page, AUTO),
        8,
        "the live badge to fade under badge='auto'",
        on_timeout=lambda: badge_style(page, AUTO),
    )
    view = page.view(AUTO)
    assert view.state == "live" and view.status == "live"
    assert box(page, AUTO).get_attribute("data-livecam-badge") == "hidden"
    assert badge_seen(page, ON), badge_style(page, ON)
    assert page.view(ON).status == "live"
    shot(page, AUTO, "auto-faded")
    shot(page, ON, "on-shown")
    # The trait changes at run time: "on" -> "auto" fades at once (the view has been live for long).
    run(page, "on.badge = 'auto'")
    wait_for(
        lambda: badge_gone(page, ON),
        5,
        "badge='auto' set at run time to hide the badge",
        on_timeout=lambda: badge_style(page, ON),
    )
    run(page, "on.badge = 'on'")
    wait_for(
        lambda: badge_seen(page, ON),
        5,
        "badge='on' set at run time to show it again",
        on_timeout=lambda: badge_style(page, ON),
    )


def test_scrolled_away_says_hidden_and_the_badge_comes_back(page: Page) -> None:
    page.wait_advancing(AUTO, steps=2)
    wait_for(lambda: badge_gone(page, AUTO), 8, "the live badge faded")
    scroll = (
        "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].node.scrollIntoView({block: '%s'})"
    )
    page.page.evaluate(scroll % "end", SPACER)
    view = page.wait_view(AUTO, lambda v: v.state == "hidden", 10, "the scrolled-away view to say hidden")
    assert not view.on_screen and view.status == "hidden"
    assert badge_seen(page, AUTO), "badge='auto' shows every state but live"
    page.page.evaluate(scroll % "start", SCRATCH)
    page.wait_advancing(AUTO, steps=3)
    page.wait_view(CLIP, lambda v: v.state == "ended", 5, "the clip's view back in sight: ended again")


def test_lf_stop_says_paused(page: Page) -> None:
    page.wait_advancing(AUTO, steps=2)
    assert run(page, "auto.stop()\nprint(auto.state)").strip() == "paused"
    view = page.wait_view(AUTO, lambda v: v.state == "paused", 10, "the view to say paused after lf.stop()")
    assert view.status == "paused"
    wait_for(
        lambda: badge_seen(page, AUTO),
        5,
        "the paused badge shown under 'auto'",
        on_timeout=lambda: badge_style(page, AUTO),
    )
    seq = view.seq
    time.sleep(0.5)
    assert page.view(AUTO).seq == seq, "frames still arrive after lf.stop()"
    shot(page, AUTO, "paused")
    run(page, "auto.start()")
    page.wait_advancing(AUTO, steps=3)


#: Records the states the first view of a cell shows (data-livecam-state), from its current one on.
WATCH_STATES = """(cell) => {
  const box = window.jupyterapp.shell.currentWidget.content.widgets[cell].node.querySelector('.livecam');
  const states = (window.__lcStates = [box.dataset.livecamState]);
  new MutationObserver(() => states.push(box.dataset.livecamState)).observe(box, { attributes: true,
    attributeFilter: ['data-livecam-state'] });
}"""


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_off_hides_the_badge_but_an_error_shows_clear_of_the_controls(page: Page) -> None:
    page.wait_advancing(OFF, steps=3)
    assert badge_gone(page, OFF), badge_style(page, OFF)
    assert page.view(OFF).state == "live"
    run(page, "fail['on'] = True")
    view = page.wait_view(OFF, lambda v: v.state == "error", 10, "the error state")
    assert "exploded on purpose 4242" in view.status
    assert badge_seen(page, OFF), "badge='off' must still show an error"
    for width in (320, 640):
        run(page, f"off.width = {width}")
        canvas = box(page, OFF).locator("canvas")
        wait_for(
            lambda c=canvas, w=width: abs(c.bounding_box()["width"] - w) < 1,
            10,
            f"the view {width} px wide",
            on_timeout=canvas.bounding_box,
        )
        box(page, OFF).hover()
        controls = box(page, OFF).locator(".livecam-controls")
        wait_for(
            lambda c=controls: c.evaluate("e => getComputedStyle(e).opacity") == "1",
            5,
            "controls shown on hover",
        )
        status = box(page, OFF).locator(".livecam-status").bounding_box()
        buttons = controls.bounding_box()
        frame = box(page, OFF).bounding_box()
        assert status and buttons and frame
        assert not _overlap(status, buttons), f"at {width} px the error runs under the controls: {status}"
        for each in controls.locator("button").all():
            assert not _overlap(status, each.bounding_box()), (width, status, each.bounding_box())
        # Readable: inside the view's width, and on the picture from its top-left corner.
        right = frame["x"] + frame["width"] + 0.5
        assert frame["x"] <= status["x"] and status["x"] + status["width"] <= right, (status, frame)
        assert status["y"] - frame["y"] < 10
        shot(page, OFF, f"error-hover-{width}px")
    page.page.mouse.move(0, 0)
    run(page, "fail['on'] = False\noff.width = 320")
    page.wait_view(OFF, lambda v: v.state == "live", 10, "recovered")
    wait_for(lambda: badge_gone(page, OFF), 5, "badge='off' hides live again")


def test_a_closed_view_names_the_transport_it_used_and_shows_no_stale_rates(page: Page) -> None:
    page.wait_advancing(ON, steps=3)
    page.wait_advancing(PROXY, steps=3)
    assert page.view(ON).transport == "websocket" and page.view(PROXY).transport == "proxy"
    wait_for(
        lambda: "fps" in overlay_text(page, ON) and "via websocket" in overlay_text(page, ON),
        5,
        "the live overlay",
        on_timeout=lambda: overlay_text(page, ON),
    )
    # Every state the direct view goes through from now on: closing must not pass through "connecting".
    page.page.evaluate(WATCH_STATES, ON)
    run(page, "on.close()\npx.close()")
    for cell, via in ((ON, "websocket"), (PROXY, "proxy"), (GONE, "none")):
        view = page.wait_view(cell, lambda v: v.state == "closed", 10, f"cell {cell} to say closed")
        assert view.status == "closed" and badge_seen(page, cell)
        text = wait_for(
            lambda c=cell: (t := overlay_text(page, c)) and "closed" in t and t,
            5,
            f"cell {cell}'s overlay to say closed",
            on_timeout=lambda c=cell: overlay_text(page, c),
        )
        lines = text.splitlines()
        assert lines[-1] == f"via {via}", f"cell {cell} says {lines[-1]!r}, it used {via}"
        assert not any(w in text for w in ("fps", "latency", "dropped")), f"stale rates after close: {text!r}"
        if via != "none":
            assert "480x240" in text and view.seq is not None, (text, view)
    states = page.page.evaluate("() => window.__lcStates")
    assert [x for i, x in enumerate(states) if i == 0 or states[i - 1] != x] == ["live", "closed"], states
    time.sleep(1.2)  # two overlay ticks: still no rates
    for cell in (ON, PROXY):
        text = overlay_text(page, cell)
        assert "closed" in text and "fps" not in text and "latency" not in text, text
    shot(page, ON, "closed-websocket")
    shot(page, PROXY, "closed-proxy")
    shot(page, GONE, "closed-none")
