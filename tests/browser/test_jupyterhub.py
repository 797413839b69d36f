"""JupyterHub for real: a hub from PyPI, its configurable-http-proxy from npm, a browser on another machine.

The hub (DummyAuthenticator, SimpleLocalProcessSpawner: test-only choices that need no system users) runs
its single-user JupyterLab servers from this interpreter. Its public proxy listens on the private link of a
network namespace that stands for the user's machine (see ``remote_machine``); the hub API, the single-user
servers and every kernel's stream server stay on 127.0.0.1, as on a hub host. Chromium, in the namespace,
logs in, opens a notebook in the user's Lab under ``/user/<name>/`` and runs a LiveFrame cell. Two users:
``alice`` has jupyter-server-proxy (the view streams through ``/user/alice/proxy/<port>/``), ``bob``'s server
has it switched off, as on hubs that do not install it (the view streams through the comm). Neither view
may try the direct socket. Frames are read from the canvas pixels. Needs root (``ip netns``).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from livecam_e2e import (
    CHROMIUM,
    HERE,
    METRICS,
    Page,
    Server,
    ages_ms,
    free_port,
    isolated_env,
    maybe_keep_artifacts,
    open_chromium,
    remote_machine,
)

pytestmark = pytest.mark.browser

CELL = "from lc_frames import *\nlf = LiveFrame(Counter(), fps=30)\nlf"
#: configurable-http-proxy, installed by `npm ci` in js/ (scripts/dev.sh).
CHP = HERE.parent.parent / "js" / "node_modules" / ".bin" / "configurable-http-proxy"


@dataclass
class Hub:
    base: str
    homes: pathlib.Path
    server: Server

    def add_notebook(self, user: str, name: str, cells: list[str]) -> None:
        import nbformat

        home = self.homes / user
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "lc_frames.py", home / "lc_frames.py")
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(cell) for cell in cells]
        nbformat.write(nb, str(home / name))


def user_config(base: pathlib.Path, proxy: bool) -> dict[str, str]:
    """Jupyter directories for one user's server: the test kernelspec, Lab exposed to the page helpers,
    livecam's server extension, and jupyter-server-proxy on or off."""
    env = isolated_env(base)
    config = pathlib.Path(env["JUPYTER_CONFIG_DIR"])
    # livecam_widget._serverext: what an installed wheel turns on (an editable install does not).
    extensions = {"jupyter_server_proxy": proxy, "livecam_widget._serverext": True}
    server: dict[str, object] = {"ServerApp": {"jpserver_extensions": extensions}}
    server["LabApp"] = {
        "expose_app_in_browser": True,
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        "extension_manager": "readonly",
    }
    (config / "jupyter_server_config.json").write_text(json.dumps(server))
    return {k: v for k, v in env.items() if k.startswith(("JUPYTER", "IPYTHON", "HOME"))}


@contextlib.contextmanager
def running_hub(base: pathlib.Path, address: str, users: dict[str, bool]) -> Iterator[Hub]:
    """A hub whose public proxy listens on ``address``; ``users``: name -> jupyter-server-proxy on."""
    if not CHP.exists():
        reason = f"configurable-http-proxy missing ({CHP}): run `npm ci` in js/"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    base.mkdir(parents=True, exist_ok=True)
    homes = base / "homes"
    envs = {user: user_config(base / f"jupyter-{user}", proxy) for user, proxy in users.items()}
    port = free_port()
    config = f"""
import sys
c = get_config()  # noqa: F821
c.JupyterHub.ip = {address!r}
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.command = [{str(CHP)!r}]
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(homes)!r} + "/{{username}}"
c.Spawner.ip = "127.0.0.1"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--allow-root"] if {os.geteuid() == 0} else []
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 90
c.JupyterHub.db_url = {"sqlite:///" + str(base / "hub.sqlite")!r}
c.JupyterHub.cookie_secret_file = {str(base / "cookie_secret")!r}
c.JupyterHub.pid_file = {str(base / "hub.pid")!r}
c.JupyterHub.cleanup_servers = True
ENVS = {envs!r}

def pre_spawn_hook(spawner):
    spawner.environment.update(ENVS[spawner.user.name])

c.Spawner.pre_spawn_hook = pre_spawn_hook
"""
    (base / "jupyterhub_config.py").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("LIVECAM_ALLOWED_ORIGINS", None)
    argv = [sys.executable, "-m", "jupyterhub", "-f", str(base / "jupyterhub_config.py")]
    server = Server("jupyterhub", argv, env, base, base / "hub.log")
    server.start()
    try:
        server.wait_http(f"http://{address}:{port}/hub/login")
        yield Hub(f"http://{address}:{port}", homes, server)
    finally:
        server.stop()
        print(f"\n[livecam] JupyterHub on {address}:{port} stopped; its log: {server.log_path}")


def log_in_and_stream(page: Page, hub: Hub, user: str, transport: str) -> dict[str, object]:
    """Log in as ``user``, open its notebook in its Lab, run the cell; the view must stream on
    ``transport`` without trying the direct socket. Returns what was measured."""
    page.goto(f"{hub.base}/hub/login")
    page.page.fill("input[name=username]", user)
    page.page.fill("input[name=password]", "any")
    page.page.click("[type=submit]")
    page.page.wait_for_url(f"**/user/{user}/lab**", timeout=120_000)
    workspace = uuid.uuid4().hex[:8]
    page.open_url(f"{hub.base}/user/{user}/lab/workspaces/{workspace}/tree/hub.ipynb?reset", "hub.ipynb")
    started = time.monotonic()
    page.run(0)
    page.wait_view(0, lambda v: v.transport == transport and v.state == "live", 60, f"the {transport}")
    page.wait_advancing(0, steps=10, timeout=60)
    first_frames_s = time.monotonic() - started
    tried = [s["url"] for s in page.sockets() if "/livecam/v1/" in s["url"]]
    if transport == "proxy":
        assert tried and all(f"/user/{user}/proxy/" in url for url in tried), tried
    else:
        assert not any("127.0.0.1" in url for url in tried), tried  # no direct attempt
    ages = ages_ms(page, 4.0)
    view = page.view(0)
    assert view is not None and view.transport == transport, view
    return {"run_to_advancing_frames_s": round(first_frames_s, 1), "age_ms_p50": ages[len(ages) // 2]}


def test_a_hub_user_streams_through_the_proxy_or_the_comm_never_the_direct_socket(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    from playwright.sync_api import sync_playwright

    users = {"alice": True, "bob": False}
    with remote_machine() as (ns, address), running_hub(tmp_path / "hub", address, users) as hub:
        for user in users:
            hub.add_notebook(user, "hub.ipynb", [CELL])
        wrapper = tmp_path / "chromium-on-the-users-machine"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        measured: dict[str, object] = {}
        with sync_playwright() as pw:
            for user, transport in (("alice", "proxy"), ("bob", "comm")):
                console: list[str] = []
                profile = tmp_path / f"profile-{user}"
                viewport = {"width": 1280, "height": 1000}
                context, page = open_chromium(pw, profile, viewport, 60_000, console, [], str(wrapper))
                try:
                    measured[user] = log_in_and_stream(page, hub, user, transport)
                finally:
                    maybe_keep_artifacts(request, page)
                    with contextlib.suppress(Exception):
                        context.close()
        METRICS["jupyterhub"] = measured
