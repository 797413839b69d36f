"""A page whose Content-Security-Policy forbids the direct socket, as VS Code's optional notebook CSP does.

VS Code can serve notebook outputs under ``connect-src https:``, which blocks every ``ws:`` URL. Here
JupyterLab itself serves its pages with ``connect-src 'self' https:`` (``'self'`` keeps Lab's own kernel
socket working): the view's direct socket to the stream server's port is refused by the browser before
any packet leaves, and the view must carry on: to jupyter-server-proxy (same origin, allowed), and to the
comm when the proxy is blocked too, which is where a VS Code webview (no proxy there) lands.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from livecam_e2e import (
    DIRECT,
    METRICS,
    PROXY,
    JupyterServer,
    Page,
    block,
    running_server,
    stream_sockets,
)

pytestmark = pytest.mark.browser

CSP = "connect-src 'self' https:"
CELL = "from lc_frames import *\nlf = LiveFrame(Counter(), fps=30)\nlf"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """This module's JupyterLab: every page it serves carries the CSP (overrides the conftest's ``lab``)."""
    config = {"ServerApp": {"tornado_settings": {"headers": {"Content-Security-Policy": CSP}}}}
    with running_server("lab", tmp_path_factory.mktemp("csp-lab"), config=config) as server:
        yield server


def watch_csp(page: Page) -> None:
    page.page.evaluate(
        """() => { window.__lcCsp = [];
            document.addEventListener('securitypolicyviolation',
                (e) => window.__lcCsp.push(e.blockedURI)); }"""
    )


def csp_blocked(page: Page) -> list[str]:
    return list(page.page.evaluate("() => window.__lcCsp || []"))


def open_and_run(lab: JupyterServer, page: Page, name: str) -> float:
    lab.add_notebook(name, [CELL])
    page.open_in(lab, name)
    read_csp = "() => fetch(location.href).then((r) => r.headers.get('content-security-policy'))"
    csp = page.page.evaluate(read_csp)
    assert csp == CSP, csp
    watch_csp(page)
    started = time.monotonic()
    page.run(0)
    return started


def test_a_csp_that_forbids_the_direct_socket_sends_the_view_to_the_proxy(nb) -> None:
    lab, page = nb
    started = open_and_run(lab, page, "csp_proxy.ipynb")
    page.wait_view(0, lambda v: v.transport == "proxy" and v.state == "live", 60, "the proxy")
    page.wait_advancing(0, steps=10)
    METRICS["csp_run_to_frames_via_proxy_s"] = round(time.monotonic() - started, 1)
    blocked = csp_blocked(page)
    assert any("/livecam/v1/" in url and "/proxy/" not in url for url in blocked), blocked
    sockets = stream_sockets(page)
    assert len(sockets) == 2 and DIRECT.match(sockets[0]["url"]) and PROXY.match(sockets[1]["url"]), sockets
    # Chromium fires no close event for a socket its CSP refused; the view hears of it from the page's
    # securitypolicyviolation event and moves on at once, not after the direct socket's 2 s deadline.
    gap_ms = sockets[1]["opened"] - sockets[0]["opened"]
    METRICS["csp_direct_to_proxy_ms"] = gap_ms
    assert gap_ms < 1500, sockets


def test_with_the_proxy_blocked_too_the_view_lands_on_the_comm(nb) -> None:
    lab, page = nb
    block(page, PROXY)  # a VS Code webview has no Jupyter server page, so no proxy
    started = open_and_run(lab, page, "csp_comm.ipynb")
    page.wait_view(0, lambda v: v.transport == "comm" and v.state == "live", 60, "the comm")
    page.wait_advancing(0, steps=10)
    METRICS["csp_run_to_frames_via_comm_s"] = round(time.monotonic() - started, 1)
    assert csp_blocked(page), "the direct socket was not refused by the page's CSP"
