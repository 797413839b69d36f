"""Helpers of the browser end-to-end tests: real Jupyter servers on 127.0.0.1, Debian's Chromium, Playwright.

Everything here is isolated: each server gets its own HOME / JUPYTER_* directories, a kernelspec that points
at this interpreter, a known token and a random free port, and is stopped (its whole process tree) by the
fixture that started it, whatever happens. Chromium is Debian's (/usr/bin/chromium); `playwright install`
is never run. Without it every test here is skipped, with one loud line saying why.

What the tests assert is read from canvas pixels: the frames carry block codes (see lc_frames.py) that the
page decodes with getImageData, so "live" and "fresh" mean what is actually on screen.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

HERE = pathlib.Path(__file__).parent
REPO = HERE.parent.parent
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = os.environ.get("LIVECAM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "livecam-e2e-" + uuid.uuid4().hex
#: One folder per user: another user's run (root's, say) must not leave it unwritable.
ARTIFACTS = pathlib.Path(tempfile.gettempdir()) / f"livecam-browser-artifacts-{getpass.getuser()}"
#: Numbers a test measured, printed at the end of the run (and kept in ARTIFACTS/metrics.json).
METRICS: dict[str, Any] = {}
MASK = (1 << 24) - 1
CHECK = 0x5A5A5A


# -- helpers ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            return True
        return False


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1, on_timeout: Any = None
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` (and the last value) after."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            extra = on_timeout() if callable(on_timeout) else last
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; last seen: {extra!r}")
        time.sleep(interval)


def age_ms(now_ms: float, code_ms: int) -> int:
    """Milliseconds from a capture-time code (ms mod 2**24) to ``now_ms`` (wall clock ms), wrap-aware."""
    return (int(now_ms) - code_ms) & MASK


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    return percentile(values, 50)


# -- isolated Jupyter environment and servers ----------------------------------------------------------------
def isolated_env(base: pathlib.Path) -> dict[str, str]:
    """HOME and every Jupyter directory under ``base``, a kernelspec for this Python, quiet Lab settings."""
    dirs = {
        "HOME": base / "home",
        "JUPYTER_CONFIG_DIR": base / "config",
        "JUPYTER_DATA_DIR": base / "data",
        "JUPYTER_RUNTIME_DIR": base / "runtime",
        "IPYTHONDIR": base / "ipython",
        "JUPYTERLAB_SETTINGS_DIR": base / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": base / "lab-workspaces",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env.update({k: str(v) for k, v in dirs.items()})
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("LIVECAM_ALLOWED_ORIGINS", None)
    # The kernel must be this venv's Python: a kernelspec in the private data dir wins over any other.
    spec_dir = dirs["JUPYTER_DATA_DIR"] / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (livecam tests)",
                "language": "python",
            }
        )
    )
    settings = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab"
    quiet = {
        # Every cell attached to the DOM: no virtualization deciding what the IntersectionObserver sees.
        "notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
    }
    for rel, value in quiet.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    return env


def _tree(pid: int) -> list[Any]:
    try:
        import psutil

        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except Exception:
        return []


class Server:
    """A Jupyter/Voila server in its own process group; ``stop()`` ends it and everything it started."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: pathlib.Path, log: pathlib.Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_http(self, url: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before serving {url}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} did not serve {url} within {timeout:g} s; log:\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        # Kernels run in sessions of their own: remember the whole tree before the parent goes.
        tree = _tree(proc.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for child in tree[1:]:
            with contextlib.suppress(Exception):
                child.wait(timeout=3)
            with contextlib.suppress(Exception):
                if child.is_running():
                    child.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


@dataclass
class JupyterServer:
    kind: str  # "lab", "notebook" or "voila"
    port: int
    root: pathlib.Path
    server: Server
    #: The address it listens on: 127.0.0.1, or a test's private link to a namespace (test_remote_browser).
    host: str = "127.0.0.1"

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.base}{path}", method=method, headers={"Authorization": f"token {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Free the CPU between tests: every kernel of this server goes (their widgets with them)."""
        with contextlib.suppress(Exception):
            for kernel in self.api("GET", "/api/kernels"):
                with contextlib.suppress(Exception):
                    self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def add_notebook(self, name: str, cells: list[str | tuple[str, str]], kernel: str = "python3") -> str:
        """Write a notebook into the server's root: each cell is code, or ("markdown", text); ``kernel``: the
        kernelspec it opens with."""
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
        for cell in cells:
            if isinstance(cell, tuple):
                nb.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
            else:
                nb.cells.append(nbformat.v4.new_code_cell(cell))
        nbformat.write(nb, str(self.root / name))
        return name


def start_server(
    kind: str,
    base: pathlib.Path,
    notebook: str | None = None,
    ip: str = "127.0.0.1",
    config: dict[str, Any] | None = None,
) -> JupyterServer:
    """``config``: written as the server's ``jupyter_server_config.json`` (e.g. response headers)."""
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "lc_frames.py", root / "lc_frames.py")
    env = isolated_env(base / "jupyter")
    # What an installed wheel turns on (etc/jupyter/jupyter_server_config.d); an editable install does not.
    extensions = {"livecam_widget._serverext": True}
    server_config: dict[str, Any] = {"ServerApp": {"jpserver_extensions": extensions}}
    for section, values in (config or {}).items():
        server_config.setdefault(section, {}).update(values)
    config_file = pathlib.Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json"
    config_file.write_text(json.dumps(server_config))
    port = free_port()
    common = [
        "--no-browser",
        f"--port={port}",
        "--port-retries=0",
        f"--ServerApp.ip={ip}",
        f"--IdentityProvider.token={TOKEN}",
        "--ServerApp.allow_root=True",
        "--ServerApp.terminals_enabled=False",
    ]
    if kind == "lab":
        argv = [
            sys.executable,
            "-m",
            "jupyterlab",
            *common,
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        ready = f"/api/status?token={TOKEN}"
    elif kind == "notebook":
        argv = [
            sys.executable,
            "-m",
            "notebook",
            *common,
            f"--ServerApp.root_dir={root}",
            "--JupyterNotebookApp.expose_app_in_browser=True",
        ]
        ready = f"/api/status?token={TOKEN}"
    elif kind == "voila":
        assert notebook is not None
        argv = [
            sys.executable,
            "-m",
            "voila",
            str(root / notebook),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            f"--Voila.root_dir={root}",
            "--show_tracebacks=True",
        ]
        ready = ""  # GET / would execute the notebook: readiness is the port listening
    else:
        raise ValueError(kind)
    server = Server(kind, argv, env, root, base / f"{kind}.log")
    server.start()
    try:
        if kind == "voila":
            _wait_port(server, port)
        else:
            server.wait_http(f"http://{ip}:{port}{ready}")
    except BaseException:
        server.stop()
        raise
    return JupyterServer(kind, port, root, server, ip)


def _wait_port(server: Server, port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while port_is_closed(port):
        assert server.proc is not None
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.proc.returncode}; log:\n{server.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{server.name} did not listen on {port} within {timeout:g} s:\n{server.log_tail()}"
            )
        time.sleep(0.25)


@contextlib.contextmanager
def running_server(
    kind: str,
    base: pathlib.Path,
    notebook: str | None = None,
    ip: str = "127.0.0.1",
    config: dict[str, Any] | None = None,
) -> Iterator[JupyterServer]:
    server = start_server(kind, base, notebook, ip, config)
    try:
        yield server
    finally:
        server.server.stop()
        print(f"\n[livecam] {kind} server on port {server.port} stopped; its log: {server.server.log_path}")


# -- the browser ---------------------------------------------------------------------------------------------
#: Runs in every document before its own scripts: page helpers, and a WebSocket log to count stream sockets.
INIT_SCRIPT = r"""
(() => {
  const Orig = window.WebSocket;
  const log = (window.__lcSockets = []);
  window.WebSocket = class extends Orig {
    constructor(url, protocols) {
      super(url, protocols);
      if (String(url).includes('/livecam/')) {
        const entry = { url: String(url).replace(/token=[^&]*/, 'token=***'), opened: Date.now(),
                        closed: null, code: null };
        log.push(entry);
        this.addEventListener('close', (ev) => { entry.closed = Date.now(); entry.code = ev.code; });
      }
    }
  };

  // Same logic as livecam_widget.read_code: threshold a 4x4 patch at the centre of each 16 px block.
  function decodeRow(data, width, row) {
    let value = 0;
    for (let i = 0; i < 24; i++) {
      let sum = 0;
      for (let dy = 6; dy < 10; dy++) {
        for (let dx = 6; dx < 10; dx++) {
          const p = ((row * 16 + dy) * width + i * 16 + dx) * 4;
          sum += (data[p] + data[p + 1] + data[p + 2]) / 3;
        }
      }
      value = value * 2 + (sum / 16 > 127 ? 1 : 0);
    }
    return value;
  }

  function scopeRoot(scope) {
    if (scope === null || scope === undefined) return document;
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const cell = panel && panel.content && panel.content.widgets[scope];
    return cell ? cell.node : null;
  }

  /** One record per .livecam view in scope (a cell index, or the whole document). */
  window.__lcRead = (scope) => {
    const root = scopeRoot(scope);
    if (!root) return [];
    return [...root.querySelectorAll('.livecam')].map((box) => {
      const canvas = box.querySelector('canvas.livecam-canvas');
      const badge = box.querySelector('.livecam-status');
      const rect = box.getBoundingClientRect();
      const rec = {
        state: box.dataset.livecamState || null,
        transport: box.dataset.livecamTransport || null,
        status: badge ? badge.textContent : null,
        painted: Number(box.dataset.livecamPainted || 0),
        width: canvas ? canvas.width : 0,
        height: canvas ? canvas.height : 0,
        on_screen: rect.bottom > 0 && rect.top < innerHeight && rect.width > 0,
        rows: null,
        now: Date.now(),
      };
      if (canvas && canvas.width >= 384 && canvas.height >= 16) {
        const rows = Math.min(4, Math.floor(canvas.height / 16));
        const data = canvas.getContext('2d').getImageData(0, 0, 384, rows * 16).data;
        rec.now = Date.now();
        rec.rows = [];
        for (let r = 0; r < rows; r++) rec.rows.push(decodeRow(data, 384, r));
      }
      return rec;
    });
  };

  /** Mean colour spread (|r-g| + |g-b|) of a view's pixels below the code rows: about 0 for gray images. */
  window.__lcChroma = (scope, index) => {
    const root = scopeRoot(scope);
    const canvas = root && root.querySelectorAll('canvas.livecam-canvas')[index || 0];
    if (!canvas || canvas.height < 96) return null;
    const data = canvas.getContext('2d').getImageData(0, 80, canvas.width, canvas.height - 80).data;
    let sum = 0;
    for (let p = 0; p < data.length; p += 4) {
      sum += Math.abs(data[p] - data[p + 1]) + Math.abs(data[p + 1] - data[p + 2]);
    }
    return sum / (data.length / 4);
  };

  /** Run a Jupyter app command on cell `index` (or the whole notebook); returns a ticket for __lcRuns. */
  window.__lcRuns = {};
  window.__lcRun = (command, index) => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    if (index !== null && index !== undefined) {
      panel.content.activeCellIndex = index;
      panel.content.deselectAll();
    }
    const ticket = String(Object.keys(window.__lcRuns).length + 1);
    window.__lcRuns[ticket] = { done: false, result: null };
    app.commands.execute(command).then(
      (result) => { window.__lcRuns[ticket] = { done: true, result: String(result) }; },
      (error) => { window.__lcRuns[ticket] = { done: true, result: 'error: ' + error }; },
    );
    return ticket;
  };

  window.__lcOutputs = (index) => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cell = panel.content.widgets[index];
    if (!cell.model.outputs) return { count: null, outputs: [] }; // markdown / raw cells
    return { count: cell.model.executionCount ?? null, outputs: cell.model.outputs.toJSON() };
  };

  window.__lcReady = () => {
    const app = window.jupyterapp;
    const panel = app && app.shell && app.shell.currentWidget;
    if (!panel || !panel.sessionContext || !panel.content) return false;
    if (!panel.context || !panel.context.isReady) return false;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
  };
})();
"""


@dataclass
class View:
    """What one .livecam view shows right now, decoded from its canvas."""

    state: str | None
    transport: str | None  # data-livecam-transport: websocket / proxy / comm (None before the first try)
    status: str | None
    painted: int
    width: int
    height: int
    on_screen: bool
    rows: list[int] | None
    now: float  # page clock (Date.now(), ms) right after reading the pixels

    @property
    def valid(self) -> bool:
        """Our lc_frames code, read whole (the check row matches)."""
        r = self.rows
        return r is not None and len(r) == 4 and r[0] > 0 and (r[0] ^ r[1] ^ CHECK) == r[3]

    @property
    def seq(self) -> int | None:
        return self.rows[0] if self.valid else None  # type: ignore[index]

    @property
    def tag(self) -> int | None:
        return self.rows[2] if self.valid else None  # type: ignore[index]

    @property
    def age_ms(self) -> int | None:
        return age_ms(self.now, self.rows[1]) if self.valid else None  # type: ignore[index]

    @property
    def pattern_seq(self) -> int | None:
        """The frame number of livecam's own test pattern (its row 0), when it is what is shown."""
        return self.rows[0] if self.rows else None


def open_chromium(
    pw: Any,
    profile: pathlib.Path,
    viewport: dict[str, int],
    timeout_ms: float,
    console: list[str],
    extra_args: list[str] | None = None,
    executable: str = CHROMIUM,
) -> tuple[Any, Page]:
    """Debian's Chromium (or ``executable``, a wrapper that starts it) with the project's flags (and
    ``extra_args``) and a fresh profile, the page helpers installed, and its first page wrapped: (context,
    page). The caller closes the context."""
    context = pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=executable,
        headless=True,
        args=CHROMIUM_ARGS + (extra_args or []),
        viewport=viewport,
    )
    context.add_init_script(INIT_SCRIPT)
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(timeout_ms)
    return context, Page(page, console)


@contextlib.contextmanager
def chromium_page(
    request: pytest.FixtureRequest,
    profile: pathlib.Path,
    viewport: dict[str, int],
    extra_args: list[str] | None = None,
) -> Iterator[Page]:
    """``open_chromium`` for one test: its console and page errors recorded, artifacts kept on failure (or
    with LIVECAM_E2E_KEEP=1), and closed afterwards."""
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    with sync_playwright() as pw:
        context, page = open_chromium(pw, profile, viewport, 60_000, console, extra_args)
        try:
            page.page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
            page.page.on("pageerror", lambda exc: console.append(f"[pageerror] {exc}"))
            yield page
        finally:
            maybe_keep_artifacts(request, page)
            with contextlib.suppress(Exception):
                context.close()


class Page:
    """A Chromium page plus the helpers the tests use to drive Jupyter and read the widget."""

    def __init__(self, page: Any, console: list[str]):
        self.page = page
        self.console = console
        self.artifacts_kept = False

    # navigation
    def goto(self, url: str, timeout: float = 90) -> None:
        self.page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)

    def open_in(self, server: JupyterServer, notebook: str) -> None:
        """Open ``notebook`` in Lab (a fresh workspace) or Notebook 7 and wait for an idle kernel."""
        if server.kind == "lab":
            url = f"{server.base}/lab/workspaces/{uuid.uuid4().hex[:8]}/tree/{notebook}?reset&token={TOKEN}"
        else:
            url = f"{server.base}/notebooks/{notebook}?token={TOKEN}"
        self.open_url(url, notebook)

    def open_url(self, url: str, notebook: str) -> None:
        """Open a notebook's page (in Lab: exposed as ``window.jupyterapp``) and wait for an idle kernel."""
        self.goto(url)
        wait_for(
            lambda: self.page.evaluate("() => !!window.__lcReady && window.__lcReady()"),
            120,
            f"{notebook} open with an idle kernel",
        )

    # cells
    def run(self, index: int | None = None, wait: bool = True, timeout: float = 120) -> str:
        command = "notebook:run-all-cells" if index is None else "notebook:run-cell"
        ticket = self.page.evaluate("([c, i]) => window.__lcRun(c, i)", [command, index])
        if wait:
            self.wait_run(ticket, timeout)
        return ticket

    def run_done(self, ticket: str) -> bool:
        return bool(self.page.evaluate("(t) => window.__lcRuns[t].done", ticket))

    def wait_run(self, ticket: str, timeout: float = 120) -> None:
        wait_for(lambda: self.run_done(ticket), timeout, f"cell run {ticket} to finish", interval=0.2)

    def outputs(self, index: int) -> list[dict[str, Any]]:
        return list(self.page.evaluate("(i) => window.__lcOutputs(i).outputs", index))

    def text(self, index: int) -> str:
        parts = []
        for out in self.outputs(index):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                parts.append("".join(text) if isinstance(text, list) else text)
            elif out.get("output_type") in ("execute_result", "display_data"):
                plain = out.get("data", {}).get("text/plain", "")
                parts.append("".join(plain) if isinstance(plain, list) else plain)
        return "".join(parts)

    def errors(self, indices: range | list[int]) -> list[str]:
        found = []
        for i in indices:
            for out in self.outputs(i):
                if out.get("output_type") == "error":
                    found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
        return found

    def cell_count(self) -> int:
        return int(self.page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length"))

    # widget views
    def views(self, cell: int | None = None) -> list[View]:
        return [View(**v) for v in self.page.evaluate("(s) => window.__lcRead(s)", cell)]

    def view(self, cell: int | None = None, index: int = 0) -> View | None:
        views = self.views(cell)
        return views[index] if len(views) > index else None

    def wait_view(
        self,
        cell: int | None,
        pred: Callable[[View], bool],
        timeout: float,
        what: str,
        index: int = 0,
        on_timeout: Callable[[], Any] | None = None,
    ) -> View:
        def check() -> View | None:
            v = self.view(cell, index)
            return v if v is not None and pred(v) else None

        def last_seen() -> Any:
            return (self.view(cell, index), on_timeout()) if on_timeout else self.view(cell, index)

        return wait_for(check, timeout, what, interval=0.1, on_timeout=last_seen)

    def wait_advancing(
        self,
        cell: int | None,
        timeout: float = 60,
        index: int = 0,
        steps: int = 5,
        key: Callable[[View], int | None] = lambda v: v.seq,
    ) -> list[int]:
        """Wait until the view is live and shows ``steps`` successively larger frame numbers."""
        seen: list[int] = []

        def check() -> bool:
            v = self.view(cell, index)
            if v is None or v.state != "live":
                return False
            value = key(v)
            if value is None:
                return False
            if seen and value < seen[-1]:
                pytest.fail(f"frame number went backwards on screen: {seen[-5:]} then {value}")
            if not seen or value > seen[-1]:
                seen.append(value)
            return len(seen) > steps

        wait_for(
            check,
            timeout,
            f"view {index} in cell {cell} to show {steps} newer frames",
            interval=0.05,
            on_timeout=lambda: (seen[-10:], self.view(cell, index)),
        )
        return seen

    def chroma(self, cell: int | None = None, index: int = 0) -> float | None:
        value = self.page.evaluate("([s, i]) => window.__lcChroma(s, i)", [cell, index])
        return None if value is None else float(value)

    def sockets(self) -> list[dict[str, Any]]:
        return list(self.page.evaluate("() => window.__lcSockets"))


def keep_artifacts(name: str, page: Any, console: list[str], failed: bool) -> None:
    out = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        page.screenshot(path=str(out / "screenshot.png"), full_page=True)
    (out / "console.log").write_text("\n".join(console))
    with contextlib.suppress(Exception):
        (out / "page.html").write_text(page.content())
    what = "failure artifacts" if failed else "artifacts (LIVECAM_E2E_KEEP)"
    print(f"\n[livecam] {what} (screenshot, console, html): {out}")


def maybe_keep_artifacts(request: pytest.FixtureRequest, page: Page) -> None:
    """On failure (or with LIVECAM_E2E_KEEP=1), keep a screenshot, the console and the page, once per test."""
    if page.artifacts_kept:
        return
    failed = any(
        getattr(request.node, f"rep_{when}", None) is not None and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )
    if failed or os.environ.get("LIVECAM_E2E_KEEP"):
        page.artifacts_kept = True
        keep_artifacts(request.node.name, page.page, page.console, failed)


# -- a remote user: a network namespace for the browser ------------------------------------------------------
def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def remote_machine() -> Iterator[tuple[str, str]]:
    """(namespace, the address it reaches): a namespace standing for the user's machine; removed after."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        reason = "remote-browser test needs root and iproute2 (ip netns)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    n = random.randint(1, 250)
    ns, host_side, user_side = f"livecam-remote-{n}", f"lcr{n}h", f"lcr{n}u"
    address = f"10.213.{n}.1"
    ip("netns", "add", ns)
    try:
        ip("link", "add", host_side, "type", "veth", "peer", "name", user_side)
        ip("link", "set", user_side, "netns", ns)
        ip("addr", "add", f"{address}/30", "dev", host_side)
        ip("link", "set", host_side, "up")
        ip("netns", "exec", ns, "ip", "addr", "add", f"10.213.{n}.2/30", "dev", user_side)
        ip("netns", "exec", ns, "ip", "link", "set", user_side, "up")
        ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, address
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            ip("netns", "del", ns)  # takes the veth pair with it
        with contextlib.suppress(subprocess.SubprocessError):
            ip("link", "del", host_side)


def ages_ms(page: Page, seconds: float) -> list[int]:
    """The ages (ms) the first view shows, sampled every 0.1 s for ``seconds``, sorted."""
    ages, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        view = page.view(0)
        if view is not None and view.age_ms is not None:
            ages.append(view.age_ms)
        time.sleep(0.1)
    return sorted(ages)


# -- a fake camera for Chromium ------------------------------------------------------------------------------
def write_y4m(path: pathlib.Path, frames: Iterable[Any], fps: int = 30) -> pathlib.Path:
    """A 4:2:0 Y4M of the given BGR frames (all one size): what Chromium's fake camera plays, in a loop, with
    ``--use-file-for-fake-video-capture``."""
    import cv2

    with path.open("wb") as out:
        for i, frame in enumerate(frames):
            if i == 0:
                height, width = frame.shape[:2]
                out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


# -- which transport a page used ----------------------------------------------------------------------------
DIRECT = re.compile(r"^wss?://[^/]+/livecam/v1/")
PROXY = re.compile(r"^wss?://[^/]+/(.*/)?proxy/\d+/livecam/v1/")


def block(page: Page, pattern: re.Pattern[str]) -> list[str]:
    """Close every WebSocket matching ``pattern`` before it reaches a server; returns the URLs tried."""
    tried: list[str] = []

    def refuse(ws: Any) -> None:
        tried.append(ws.url)
        ws.close(code=1000, reason="blocked")

    page.page.route_web_socket(pattern, refuse)
    return tried


def stream_sockets(page: Page) -> list[dict[str, Any]]:
    return [s for s in page.sockets() if "/livecam/v1/" in s["url"]]
