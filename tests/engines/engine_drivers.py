"""Firefox ESR and WebKitGTK (Safari's engine) driven from a test, behind one small interface.

* Firefox: Debian's ``firefox-esr``, headless, over WebDriver BiDi through puppeteer-core, run by the node
  script ``js/engines/bidi.js`` (JSON lines on its stdin/stdout). No geckodriver, nothing downloaded.
* WebKit: Debian's ``WebKitWebDriver`` (webkit2gtk-driver) starts WebKitGTK's ``MiniBrowser`` in automation
  mode, on an Xvfb display of its own; Selenium speaks WebDriver classic to it.

Both give: ``goto``, ``eval`` (a JS expression, awaited when it is a promise, returned as JSON), real mouse
input (``move``/``down``/``up``/``click``, in CSS pixels of the viewport), ``screenshot`` and ``close``.
Every process started here is in a process group of its own and is ended, the whole group, by ``close``.
``scripts/dev.sh test`` installs all of it (its ``engines`` step); without it the tests skip (fail under CI).
"""

from __future__ import annotations

import contextlib
import getpass
import glob
import importlib.util
import json
import os
import pathlib
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

HERE = pathlib.Path(__file__).parent
REPO = HERE.parent.parent
BIDI_JS = REPO / "js" / "engines" / "bidi.js"
PUPPETEER = REPO / "js" / "node_modules" / "puppeteer-core" / "package.json"
FIREFOX = os.environ.get("LIVECAM_FIREFOX", "/usr/bin/firefox-esr")
WEBKIT_DRIVER = os.environ.get("LIVECAM_WEBKIT_DRIVER", "/usr/bin/WebKitWebDriver")
XVFB = shutil.which("Xvfb") or "/usr/bin/Xvfb"
VIEWPORT = (1024, 768)
ENGINES = ("firefox", "webkit")
ARTIFACTS = pathlib.Path(tempfile.gettempdir()) / f"livecam-browser-artifacts-{getpass.getuser()}" / "engines"
#: Numbers the tests measured, per engine, printed at the end of the run (and kept as metrics.json).
ENGINE_METRICS: dict[str, Any] = {}
INSTALL_HINT = "bash scripts/dev.sh test installs it as root (its engines step)"


def minibrowser() -> str | None:
    """WebKitGTK's MiniBrowser, shipped inside the library package (not on PATH)."""
    found = sorted(glob.glob("/usr/lib/*/webkit2gtk-4.*/MiniBrowser")) + sorted(
        glob.glob("/usr/libexec/webkit2gtk-4.*/MiniBrowser")
    )
    return os.environ.get("LIVECAM_MINIBROWSER") or (found[-1] if found else None)


def _executable(path: str | None) -> bool:
    return bool(path) and os.path.isfile(str(path)) and os.access(str(path), os.X_OK)


def missing(engine: str) -> str | None:
    """Why ``engine`` cannot run here (one line), or None when everything it needs is installed."""
    lacks: list[str] = []
    if engine == "firefox":
        if not _executable(FIREFOX):
            lacks.append(f"{FIREFOX} (apt-get install firefox-esr)")
        if shutil.which("node") is None:
            lacks.append("node")
        if not PUPPETEER.is_file():
            lacks.append("js/node_modules/puppeteer-core (cd js && PUPPETEER_SKIP_DOWNLOAD=1 npm ci)")
    elif engine == "webkit":
        if not _executable(WEBKIT_DRIVER):
            lacks.append(f"{WEBKIT_DRIVER} (apt-get install webkit2gtk-driver)")
        if minibrowser() is None:
            lacks.append("WebKitGTK's MiniBrowser (apt-get install webkit2gtk-driver)")
        if not _executable(XVFB):
            lacks.append("Xvfb (apt-get install xvfb)")
        if importlib.util.find_spec("selenium") is None:
            lacks.append("the selenium Python package (pip install selenium)")
    else:
        raise ValueError(engine)
    if not lacks:
        return None
    return f"{engine} engine tests SKIPPED: missing {', '.join(lacks)}; {INSTALL_HINT}"


def _kill_group(proc: subprocess.Popen[Any] | None, grace: float = 10.0) -> None:
    """SIGTERM the process group ``proc`` leads, SIGKILL it if it is still there after ``grace`` seconds."""
    if proc is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@contextlib.contextmanager
def xvfb_display(log: pathlib.Path) -> Iterator[str]:
    """A private X display (``:N``, a number the server picks), stopped on exit."""
    read_end, write_end = os.pipe()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [XVFB, "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    os.close(write_end)
    try:
        # Xvfb writes the number and then the newline, maybe in two writes: read to the newline, and keep
        # the pipe open until then (a closed pipe makes Xvfb's second write fail, and Xvfb exit).
        got = b""
        deadline = time.monotonic() + 30
        os.set_blocking(read_end, False)
        while not got.endswith(b"\n"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb did not start: {log.read_text(errors='replace')[-2000:]}")
            try:
                chunk = os.read(read_end, 16)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            if not chunk:
                raise RuntimeError(f"Xvfb closed its display pipe: {log.read_text(errors='replace')[-2000:]}")
            got += chunk
        yield ":" + got.decode().strip()
    finally:
        os.close(read_end)
        _kill_group(proc)


class Engine:
    """What a test does with a browser; see the module docstring."""

    name = ""
    version = ""

    def goto(self, url: str) -> None:
        raise NotImplementedError

    def eval(self, expr: str) -> Any:
        raise NotImplementedError

    def move(self, x: float, y: float) -> None:
        raise NotImplementedError

    def down(self) -> None:
        raise NotImplementedError

    def up(self) -> None:
        raise NotImplementedError

    def click(self, x: float, y: float) -> None:
        self.move(x, y)
        self.down()
        self.up()

    def key(self, key: str) -> None:
        """Press and release one key (a character, like " "), sent to the focused element."""
        raise NotImplementedError

    def screenshot(self, path: pathlib.Path) -> pathlib.Path:
        raise NotImplementedError

    def console(self) -> list[str]:
        """Console lines the driver saw since the last call (the BiDi driver only; WebKit's has none)."""
        return []

    def close(self) -> None:
        raise NotImplementedError


class FirefoxBiDi(Engine):
    """Firefox ESR, headless, through js/engines/bidi.js (puppeteer-core over WebDriver BiDi)."""

    name = "firefox"

    def __init__(self, log: pathlib.Path, timeout: float = 60.0) -> None:
        env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1")
        self.timeout = timeout
        self._log = open(log, "wb")  # noqa: SIM115 (closed by close())
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            ["node", str(BIDI_JS)],
            cwd=REPO / "js",
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
        )
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next = 0
        self.browser_pid: int | None = None
        threading.Thread(target=self._read, name="firefox-bidi-reader", daemon=True).start()
        try:
            info = self._call(
                "launch",
                browser="firefox",
                executable=FIREFOX,
                width=VIEWPORT[0],
                height=VIEWPORT[1],
                timeout=90,
            )
        except BaseException:
            self.close()
            raise
        self.version = str(info["version"])
        self.browser_pid = info.get("pid")

    def _read(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            with contextlib.suppress(ValueError):
                self._answers.put(json.loads(line))
        self._answers.put(None)

    def _call(self, op: str, timeout: float | None = None, **args: Any) -> Any:
        proc = self.proc
        if proc is None or proc.stdin is None:
            raise RuntimeError("the Firefox driver is closed")
        self._next += 1
        ident = self._next
        proc.stdin.write((json.dumps({"id": ident, "op": op, **args}) + "\n").encode())
        proc.stdin.flush()
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                reply = self._answers.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(
                    f"firefox driver: no answer to {op} within {timeout or self.timeout:g} s"
                ) from None
            if reply is None:
                raise RuntimeError(f"firefox driver exited during {op}; its log: {self._log.name}")
            if reply.get("id") != ident:
                continue  # the late answer to a call that timed out
            if not reply.get("ok"):
                raise RuntimeError(f"firefox {op}: {reply.get('error')}")
            return reply.get("value")

    def goto(self, url: str) -> None:
        self._call("goto", url=url, timeout=90)

    def eval(self, expr: str) -> Any:
        return self._call("eval", expr=expr)

    def move(self, x: float, y: float) -> None:
        self._call("move", x=x, y=y)

    def down(self) -> None:
        self._call("down")

    def up(self) -> None:
        self._call("up")

    def click(self, x: float, y: float) -> None:
        self._call("click", x=x, y=y)

    def key(self, key: str) -> None:
        self._call("key", key=key)

    def screenshot(self, path: pathlib.Path) -> pathlib.Path:
        self._call("screenshot", path=str(path))
        return path

    def console(self) -> list[str]:
        return [str(line) for line in self._call("console")]

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.write(b'{"id": 0, "op": "close"}\n')
            proc.stdin.close()  # the driver closes the browser at the end of its input, too
            proc.wait(timeout=15)
        _kill_group(proc, grace=5)  # node; on SIGTERM puppeteer also ends the browser it started
        if self.browser_pid:  # the browser's own group (puppeteer starts it detached), if anything is left
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.browser_pid, signal.SIGKILL)
        self._log.close()


_ASYNC_EVAL = """
const done = arguments[arguments.length - 1];
Promise.resolve()
  .then(() => (0, eval)(arguments[0]))
  .then((value) => done({ ok: value === undefined ? null : value }),
        (e) => done({ error: String((e && e.stack) || e) }));
"""


class WebKitGTK(Engine):
    """WebKitGTK's MiniBrowser under ``WebKitWebDriver`` on the X display ``display``, through Selenium."""

    name = "webkit"

    def __init__(self, display: str, log: pathlib.Path, timeout: float = 60.0) -> None:
        from selenium import webdriver
        from selenium.webdriver.webkitgtk.service import Service

        options = webdriver.WebKitGTKOptions()
        options.binary_location = str(minibrowser())
        options.add_argument("--automation")
        env = dict(os.environ, DISPLAY=display, NO_AT_BRIDGE="1", GTK_A11Y="none")
        self.service = Service(
            executable_path=WEBKIT_DRIVER, env=env, log_output=str(log), popen_kw={"start_new_session": True}
        )
        # WebKitWebDriver waits for ever for a browser that cannot start (no display, say): bound it.
        watchdog = threading.Timer(90, lambda: _kill_group(self.service.process, grace=2))
        watchdog.start()
        try:
            self.driver = webdriver.WebKitGTK(options=options, service=self.service)
        except BaseException:
            _kill_group(self.service.process, grace=2)
            raise
        finally:
            watchdog.cancel()
        self.driver.set_script_timeout(timeout)
        self.driver.set_page_load_timeout(90)
        self.version = str(self.driver.capabilities.get("browserVersion", "?"))
        # The window's outer size is what WebDriver sets: grow it until the viewport is VIEWPORT.
        self.driver.set_window_size(*VIEWPORT)
        inner = self.eval("[innerWidth, innerHeight]")
        self.driver.set_window_size(2 * VIEWPORT[0] - inner[0], 2 * VIEWPORT[1] - inner[1])

    def goto(self, url: str) -> None:
        self.driver.get(url)

    def eval(self, expr: str) -> Any:
        result = self.driver.execute_async_script(_ASYNC_EVAL, expr)
        if "error" in result:
            raise RuntimeError(f"webkit eval: {result['error']}")
        return result["ok"]

    def _actions(self) -> Any:
        from selenium.webdriver.common.actions.action_builder import ActionBuilder

        return ActionBuilder(self.driver)

    def move(self, x: float, y: float) -> None:
        actions = self._actions()
        actions.pointer_action.move_to_location(round(x), round(y))
        actions.perform()

    def down(self) -> None:
        actions = self._actions()
        actions.pointer_action.pointer_down()
        actions.perform()

    def up(self) -> None:
        actions = self._actions()
        actions.pointer_action.pointer_up()
        actions.perform()

    def click(self, x: float, y: float) -> None:
        actions = self._actions()
        actions.pointer_action.move_to_location(round(x), round(y)).pointer_down().pointer_up()
        actions.perform()

    def key(self, key: str) -> None:
        actions = self._actions()
        actions.key_action.key_down(key).key_up(key)
        actions.perform()

    def screenshot(self, path: pathlib.Path) -> pathlib.Path:
        self.driver.save_screenshot(str(path))
        return path

    def close(self) -> None:
        driver = getattr(self, "driver", None)
        self.driver = None  # type: ignore[assignment]
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.quit()
        _kill_group(self.service.process, grace=5)


def artifact_path(engine: Engine, label: str) -> pathlib.Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / (re.sub(r"[^\w.-]+", "_", f"{engine.name}-{label}") + ".png")


def keep_failure_artifacts(request: Any, engine: Engine, failed: bool | None = None) -> None:
    """After a failed test: a screenshot, what the page logged and what the probe read, next to the others.
    ``failed`` None: from the test's report (in a fixture's teardown; inside the test there is none yet)."""
    if failed is None:
        failed = any(
            getattr(request.node, f"rep_{when}", None) is not None
            and getattr(request.node, f"rep_{when}").failed
            for when in ("setup", "call")
        )
    if not failed:
        return
    shot = artifact_path(engine, f"FAILED-{request.node.name}")
    notes: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        engine.screenshot(shot)
    with contextlib.suppress(Exception):
        notes["read"] = engine.eval("window.__lcE && window.__lcE.read()")
    with contextlib.suppress(Exception):
        notes["page_errors"] = engine.eval("window.__lcE && window.__lcE.errors")
    with contextlib.suppress(Exception):
        notes["console"] = engine.console()
    shot.with_suffix(".json").write_text(json.dumps(notes, indent=2, default=str))
    print(f"\n[livecam] {engine.name} failure artifacts: {shot} (+ .json)")


def open_engine(name: str, workdir: pathlib.Path, display: str | None = None) -> Engine:
    if name == "firefox":
        return FirefoxBiDi(workdir / "firefox-driver.log")
    if name == "webkit":
        assert display is not None, "WebKitGTK needs an X display (xvfb_display)"
        return WebKitGTK(display, workdir / "webkit-driver.log")
    raise ValueError(name)


#: Page-side helpers, installed once a page has loaded (``install_probe``). Same decoding as
#: livecam_widget.read_code and tests/browser/livecam_e2e.py: a 4x4 patch at the centre of each 16 px block.
PROBE = r"""
(() => {
  if (window.__lcE) return true;
  const MASK = (1 << 24) - 1;
  const CHECK = 0x5A5A5A;
  const errors = [];
  const warnings = [];
  addEventListener('error', (e) => errors.push('error: ' + e.message));
  addEventListener('unhandledrejection', (e) =>
    errors.push('unhandledrejection: ' + ((e.reason && e.reason.message) || e.reason)));
  for (const [level, log] of [['error', errors], ['warn', warnings]]) {
    const orig = console[level];
    console[level] = (...args) => { log.push(level + ': ' + args.join(' ')); orig.apply(console, args); };
  }
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
  let which = 0;  // the view read: the page's first unless select(n) picked another
  const box = () => document.querySelectorAll('.livecam')[which] || null;
  const canvasOf = (b) => b && b.querySelector('canvas.livecam-canvas');
  function codes() {
    const canvas = canvasOf(box());
    if (!canvas || canvas.width < 384 || canvas.height < 64) return null;
    const data = canvas.getContext('2d').getImageData(0, 0, 384, 64).data;
    const now = Date.now();
    const rows = [0, 1, 2, 3].map((r) => decodeRow(data, 384, r));
    const valid = rows[0] > 0 && (rows[0] ^ rows[1] ^ CHECK) === rows[3];
    return { rows, now, valid, seq: valid ? rows[0] : null, age: valid ? (now - rows[1]) & MASK : null };
  }
  function rect(el) {
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return { x: r.left, y: r.top, w: r.width, h: r.height };
  }
  window.__lcE = {
    errors,
    warnings,
    select(n) { which = n; return document.querySelectorAll('.livecam').length; },
    read() {
      const b = box();
      if (!b) return null;
      const canvas = canvasOf(b);
      const pause = b.querySelector('[data-livecam-control="pause"]');
      return {
        state: b.dataset.livecamState || null,
        transport: b.dataset.livecamTransport || null,
        status: (b.querySelector('.livecam-status') || {}).textContent || null,
        painted: Number(b.dataset.livecamPainted || 0),
        paused: b.dataset.livecamPaused === '1',
        width: canvas.width,
        height: canvas.height,
        canvas: rect(canvas),
        pause: rect(pause),
        pause_label: pause ? pause.textContent : null,
        controls_opacity: Number(getComputedStyle(b.querySelector('.livecam-controls')).opacity),
        hovered: b.matches(':hover'),
        badge_visible: getComputedStyle(b.querySelector('.livecam-status')).visibility !== 'hidden',
        dpr: devicePixelRatio,
        focused: document.activeElement === b,
        has_focus: document.hasFocus(),
        fullscreen: document.fullscreenElement === b,
        fullscreen_enabled: !!document.fullscreenEnabled,
        overlay: b.classList.contains('livecam-with-overlay')
          ? (b.querySelector('.livecam-overlay') || {}).textContent || '' : null,
        fit: b.dataset.livecamFit || null,
        css_width: canvas.getBoundingClientRect().width,
        controls: Object.fromEntries([...b.querySelectorAll('[data-livecam-control]')]
          .map((c) => [c.dataset.livecamControl, rect(c)])),
        viewport: [innerWidth, innerHeight],
        code: codes(),
      };
    },
    /** Read the code strip on every animation frame for `ms`: each new frame number once, when first seen. */
    sample(ms) {
      return new Promise((resolve) => {
        const b = box();
        const t0 = performance.now();
        const painted0 = Number(b.dataset.livecamPainted || 0);
        const first = [];
        let reads = 0, invalid = 0, backwards = 0, last = -1;
        const tick = () => {
          const c = codes();
          reads++;
          if (!c || !c.valid) invalid++;
          else if (c.seq > last) { first.push([c.seq, c.rows[1], c.now, c.age]); last = c.seq; }
          else if (c.seq < last) backwards++;
          if (performance.now() - t0 < ms) requestAnimationFrame(tick);
          else resolve({ reads, invalid, backwards, first, state: b.dataset.livecamState,
                         painted: Number(b.dataset.livecamPainted || 0) - painted0,
                         elapsed_ms: performance.now() - t0 });
        };
        requestAnimationFrame(tick);
      });
    },
    /** A page taller than the viewport (a spacer after the view), scrolled to `y`. */
    scroll(y) {
      if (!document.getElementById('lc-spacer')) {
        const spacer = document.createElement('div');
        spacer.id = 'lc-spacer';
        spacer.style.height = '4000px';
        document.body.append(spacer);
      }
      scrollTo(0, y);
      return scrollY;
    },
    sleep(ms) { return new Promise((resolve) => setTimeout(() => resolve(true), ms)); },
  };
  return true;
})()
"""
