"""The widget in JupyterLab 4, in Firefox ESR and in WebKitGTK: one notebook per engine, one Lab server.

The kernel makes the frames (lc_frames.Counter at 30 fps) and keeps the clicks it gets; the engine runs the
cell through Lab's own command, then the same checks as on the standalone page (engine_checks.py): frames
rise and are fresh on the canvas, the hover controls pause and resume, and a click reaches the kernel. Then
that widget closes and a second one, whose stream port refuses connections, must fall back to the comm by
itself, with frames that rise and are fresh.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from livecam_e2e import TOKEN, JupyterServer, running_server

from .engine_checks import (
    View,
    click_on_picture,
    frames_rise_and_are_fresh,
    pause_and_resume_from_hover_controls,
    wait_until,
)
from .engine_drivers import ENGINE_METRICS, Engine, keep_failure_artifacts

FPS = 30
LIVE = (
    "from lc_frames import *\nimport json\n"
    f"lf = LiveFrame(Counter(), fps={FPS})\n"
    "clicks = []\nlf.on_click(lambda x, y, b: clicks.append([x, y, b]))\nlf"
)
CLICKS = "print(json.dumps(clicks))"
#: The comm fallback (frames over the kernel's own channel) as a browser meets it: the widget's stream port
#: refuses connections, so the direct socket and the server proxy to it both fail, and the view must fall back
#: on its own (transport="auto", the default).
COMM = f"""lf.close()
import socket
probe = socket.socket(); probe.bind(("127.0.0.1", 0)); refused = probe.getsockname()[1]; probe.close()
comm = LiveFrame(Counter(), fps={FPS})
# The port the view is told to use, directly and through the server's proxy: nothing listens there.
comm._url = comm._url.replace(f":{{comm._ws_port}}/", f":{{refused}}/")
comm._ws_port = refused
comm"""
NEEDED_MODULES = ("jupyterlab", "ipykernel", "nbformat")
#: Lab helpers. Not the Chromium tests' (livecam_e2e.INIT_SCRIPT), which find the notebook as the shell's
#: current widget: headless Firefox never gives its window focus (document.hasFocus() stays false, even
#: after a real click), and Lab's shell.currentWidget follows focus, so it stays null there. The notebook
#: tracker's current widget does not need focus, so Lab's own run-cell command works.
LAB_HELPERS = r"""
(() => {
  const panel = () => {
    const app = window.jupyterapp;
    if (!app) return null;
    const current = app.shell.currentWidget;
    if (current && current.content && current.sessionContext) return current;
    return [...app.shell.widgets('main')].find((w) => w.content && w.sessionContext) || null;
  };
  window.__lcLab = {
    ready() {
      const p = panel();
      if (!p || !p.context || !p.context.isReady) return false;
      const kernel = p.sessionContext.session && p.sessionContext.session.kernel;
      return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
    },
    run(index) {
      const p = panel();
      p.content.activeCellIndex = index;
      p.content.deselectAll();
      return window.jupyterapp.commands.execute('notebook:run-cell').then(() => true);
    },
    outputs(index) { return panel().content.widgets[index].model.outputs.toJSON(); },
    focus() { return document.hasFocus(); },
  };
  return true;
})()
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One JupyterLab server (isolated, 127.0.0.1, random port) for both engines; stopped afterwards."""
    lacking = [name for name in NEEDED_MODULES if importlib.util.find_spec(name) is None]
    if lacking:
        names = ", ".join(lacking)
        reason = f"Lab engine tests SKIPPED: Python packages missing: {names} (pip install -e '.[browser]')"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with running_server("lab", tmp_path_factory.mktemp("lab")) as server:
        yield server


def run_cell(engine: Engine, index: int) -> None:
    """Run cell ``index`` with Lab's own command; returns once Lab says it ran."""
    assert engine.eval(f"window.__lcLab.run({index})") is True


def cell_text(engine: Engine, index: int) -> str:
    outputs: list[dict[str, Any]] = engine.eval(f"window.__lcLab.outputs({index})")
    parts = []
    for out in outputs:
        if out.get("output_type") == "error":
            pytest.fail(f"cell {index}: {out.get('ename')}: {out.get('evalue')}")
        if out.get("output_type") == "stream":
            text = out.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def test_lab_view_is_live_fresh_pauses_and_clicks_reach_the_kernel(
    request: pytest.FixtureRequest, engine: Engine, lab: JupyterServer
) -> None:
    name = lab.add_notebook(f"engine_{engine.name}.ipynb", [LIVE, CLICKS, COMM])
    view = View(engine)
    failed = True
    try:
        view.mouse_away()
        engine.goto(f"{lab.base}/lab/workspaces/{uuid.uuid4().hex[:8]}/tree/{name}?reset&token={TOKEN}")
        wait_until(
            lambda: engine.eval("!!window.jupyterapp"),
            90,
            "JupyterLab to start",
            lambda: engine.eval("location.href"),
        )
        assert engine.eval(LAB_HELPERS) is True
        wait_until(
            lambda: engine.eval("window.__lcLab.ready()"), 90, f"{name} with an idle kernel", lambda: None
        )
        has_focus = engine.eval("window.__lcLab.focus()")
        run_cell(engine, 0)
        view.install()
        info = view.wait_live(60)
        assert (info["width"], info["height"]) == (480, 240), info
        assert info["transport"] == "websocket", info
        frames = frames_rise_and_are_fresh(view, 2.0, FPS)
        pause = pause_and_resume_from_hover_controls(view, "lab")

        fx, fy = click_on_picture(view, 123, 150)

        def clicks() -> list[list[float]]:
            run_cell(engine, 1)
            return list(json.loads(cell_text(engine, 1) or "[]"))

        got = wait_until(clicks, 15, "the click in the kernel's on_click", clicks)
        assert len(got) == 1 and got[0][2] == 0, got
        assert abs(got[0][0] - fx) <= 1 and abs(got[0][1] - fy) <= 1, (got, fx, fy)

        run_cell(engine, 2)  # the first widget closes; a second one has to fall back to the comm
        assert view.select(1) == 2, "expected the closed view and the comm view"
        info = view.wait_live(90)
        assert info["transport"] == "comm", info
        # The comm path goes through the Jupyter server and the kernel's IOPub: slower than the direct socket
        # in every engine (Chromium too, see test_transports_lab.py), so a lower share of the source's rate.
        comm = frames_rise_and_are_fresh(view, 2.0, FPS, min_share=0.25)
        assert view.errors() == [], f"{engine.name}: the page reported errors"
        ENGINE_METRICS[f"{engine.name}.lab"] = {
            "browser": engine.version,
            **frames,
            **pause,
            "click_in_kernel": got[0],
            "document_has_focus": has_focus,
            "comm": {k: comm[k] for k in ("fps_on_screen", "age_ms_p50", "age_ms_p95", "age_ms_max")},
        }
        print(f"\n{engine.name} in JupyterLab: {ENGINE_METRICS[f'{engine.name}.lab']}")
        failed = False
    finally:
        keep_failure_artifacts(request, engine, failed)
        with contextlib.suppress(Exception):
            engine.goto("about:blank")
        lab.shutdown_kernels()
