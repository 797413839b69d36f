"""A browser on another machine: Chromium in a network namespace of its own, as a remote user would be.

The namespace (the user's machine) is joined to this one by a veth pair and reaches one address,
10.213.N.1, where the test's JupyterLab listens (nothing else listens there, and the link exists only
between the two). The kernel's stream server stays on this machine's 127.0.0.1, which from the browser's
side is the browser's own machine: the direct socket cannot work, and the view must not spend time on it.
It streams through jupyter-server-proxy, and through the comm when the proxy is blocked. Needs root (``ip
netns``); frames are read from the canvas pixels as in the other browser tests.
"""

from __future__ import annotations

import contextlib
import pathlib
import time

import pytest
from livecam_e2e import (
    CHROMIUM,
    METRICS,
    ages_ms,
    maybe_keep_artifacts,
    open_chromium,
    remote_machine,
    running_server,
)

pytestmark = pytest.mark.browser

CELL = "from lc_frames import *\nlf = LiveFrame(Counter(), fps=30)\nlf"


def test_a_browser_on_another_machine_uses_the_proxy_then_the_comm_never_the_direct_socket(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    from playwright.sync_api import sync_playwright

    with remote_machine() as (ns, address), running_server("lab", tmp_path / "lab", ip=address) as lab:
        wrapper = tmp_path / "chromium-on-the-users-machine"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        name = lab.add_notebook("remote.ipynb", [CELL])
        console: list[str] = []
        with sync_playwright() as pw:
            context, page = open_chromium(
                pw, tmp_path / "profile", {"width": 1280, "height": 1000}, 60_000, console, [], str(wrapper)
            )
            try:
                page.open_in(lab, name)
                assert page.page.evaluate("() => location.hostname") == address
                started = time.monotonic()
                page.run(0)
                page.wait_advancing(0, steps=10, timeout=60)
                first_frames_s = time.monotonic() - started
                view = page.view(0)
                assert view is not None and view.transport == "proxy", view
                tried = [s["url"] for s in page.sockets() if "/livecam/v1/" in s["url"]]
                assert tried and all("/proxy/" in url for url in tried), tried  # no direct attempt
                proxy = ages_ms(page, 4.0)

                # The proxy blocked too (a hub without jupyter-server-proxy): a new widget goes to the comm.
                page.page.route_web_socket(
                    lambda url: "/proxy/" in url, lambda ws: ws.close(code=1000, reason="blocked")
                )
                page.run(0)  # the re-run replaces the widget
                page.wait_view(0, lambda v: v.transport == "comm" and v.state == "live", 60, "the comm")
                page.wait_advancing(0, steps=10, timeout=60)
                comm = ages_ms(page, 4.0)
                METRICS["remote_browser"] = {
                    "run_to_advancing_frames_s": round(first_frames_s, 1),
                    "proxy_age_ms_p50": proxy[len(proxy) // 2],
                    "comm_age_ms_p50": comm[len(comm) // 2],
                }
            finally:
                maybe_keep_artifacts(request, page)
                with contextlib.suppress(Exception):
                    context.close()
                lab.shutdown_kernels()
