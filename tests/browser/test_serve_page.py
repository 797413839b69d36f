"""`livecam serve`: its page shows the same live view in a plain browser, outside Jupyter."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.browser


def test_the_standalone_page_paints_a_live_stream(browser) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "livecam_widget", "serve", "testpattern:640x360", "--fps", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        page_url = next(line.split()[1] for line in proc.stdout if line.strip().startswith("page"))
        browser.goto(page_url)
        seqs = browser.wait_advancing(None, steps=10, key=lambda v: v.pattern_seq)
        view = browser.view(None)
        assert view.state == "live" and view.transport == "websocket"
        assert (view.width, view.height) == (640, 360)
        assert seqs == sorted(seqs)
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    assert proc.returncode == 0
