"""The shipped dashboard notebook, served by Voila and opened in Notebook 7: the same widget, live."""

from __future__ import annotations

import re
import shutil
import time

import pytest
from livecam_e2e import METRICS, NOTEBOOKS, maybe_keep_artifacts, running_server, wait_for

pytestmark = pytest.mark.browser


def _with_dashboard(base):
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(NOTEBOOKS / "dashboard.ipynb", root / "dashboard.ipynb")
    return base


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    with running_server(
        "voila", _with_dashboard(tmp_path_factory.mktemp("voila")), "dashboard.ipynb"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory):
    with running_server("notebook", _with_dashboard(tmp_path_factory.mktemp("notebook7"))) as server:
        yield server


@pytest.fixture
def nb7(request, notebook7, browser):
    try:
        yield notebook7, browser
    finally:
        maybe_keep_artifacts(request, browser)
        notebook7.shutdown_kernels()


def pattern(view):
    return view.pattern_seq


def stats_painted(page):
    """fps_painted as the dashboard's stats label (fed by lf.stats in the kernel) shows it, or None."""
    label = page.page.locator(".livecam-dashboard-stats")
    if label.count() == 0:
        return None
    match = re.search(r"painted ([\d.]+) fps", label.first.inner_text())
    return float(match.group(1)) if match else None


def test_dashboard_in_voila(voila, browser):
    """Voila runs dashboard.ipynb: the view paints the moving test pattern; Pause/Resume and the Effect
    dropdown act on the stream; the stats label reports painted frames."""
    page = browser
    page.goto(f"{voila.base}/")
    seqs = page.wait_advancing(None, key=pattern, steps=10, timeout=120)
    view = page.view(None)
    assert (view.width, view.height) == (640, 480) and view.on_screen
    painted = wait_for(lambda: stats_painted(page), 30, "the stats label to report painted frames")
    METRICS["voila_dashboard_fps_painted"] = painted
    assert painted > 0

    page.page.get_by_role("button", name="Pause").click()
    paused = page.wait_view(None, lambda v: v.state == "paused", 30, "the view to say paused")
    assert paused.status == "paused"
    time.sleep(0.5)  # a frame already granted may still land; after that nothing moves
    frozen = page.view(None).pattern_seq
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert page.view(None).pattern_seq == frozen, "frames still arriving while paused"
        time.sleep(0.1)
    page.page.get_by_role("button", name="Resume").click()
    resumed = page.wait_advancing(None, key=pattern, steps=5, timeout=30)
    assert resumed[0] >= frozen

    assert page.chroma() > 20, "the test pattern should be colourful"
    page.page.locator(".widget-dropdown select").select_option("gray")
    wait_for(
        lambda: (c := page.chroma()) is not None and c < 3,
        30,
        "the gray effect on screen",
        on_timeout=page.chroma,
    )
    page.wait_advancing(None, key=pattern, steps=5, timeout=30)
    assert seqs[-1] < resumed[-1]


def test_dashboard_in_notebook7(nb7):
    """Notebook 7, Run All on dashboard.ipynb: the view is live and advancing, the stats label reports it."""
    notebook7, page = nb7
    page.open_in(notebook7, "dashboard.ipynb")
    page.run()
    assert page.errors(range(page.cell_count())) == []
    page.wait_advancing(None, key=pattern, steps=10, timeout=60)
    view = page.view(None)
    assert view.state == "live" and view.on_screen and (view.width, view.height) == (640, 480)
    painted = wait_for(lambda: stats_painted(page), 30, "the stats label to report painted frames")
    assert painted > 0
