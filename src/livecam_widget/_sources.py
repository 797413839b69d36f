"""Frame sources: cameras, files and URLs (through cv2.VideoCapture), iterables, callables, the test pattern.

A source only reads; ``SourceThread`` runs it in the background and hands every frame to a sink (the
widget's ``update``), so cameras, files and generators go through exactly the same path as pushed frames.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import cv2

from ._camera import parse_browser_source
from ._demand import Demand
from ._encoder import describe_exception
from ._frames import Image
from ._pacing import Deadline
from ._testpattern import TestPattern
from ._threads import Worker

SOURCES_ACCEPTED = (
    "a camera index (int), a video file path or URL (str/PathLike), 'testpattern' or 'testpattern:WxH', "
    "'browser' (the viewer's own camera; 'browser:WxH' or 'browser:WxH@FPS'), "
    "a numpy frame (shown still), an iterable/generator of frames, a callable returning a frame or None, "
    "an object with a cv2.VideoCapture-like read(), or None for push mode (lf.update(frame))"
)


#: The rate of an on-demand source (a callable or iterable without ``fps``) while a recording or
#: ``keep_running`` wants frames with no viewer asking.
HELD_FPS = 30.0


class EndOfSource(Exception):
    """The source has no more frames (a file ended without loop=True, a generator returned)."""


class Source(Protocol):
    name: str
    #: Natural pace in frames per second; None when reading blocks at the device's own pace.
    fps: float | None

    def read(self) -> Image | None: ...

    def close(self) -> None: ...


def redact(url: str) -> str:
    """Hide credentials in stream URLs (rtsp://user:secret@host) before they reach an error text."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _is_url(spec: str) -> bool:
    return "://" in spec


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def _open_capture(spec: int | str, timeout: float) -> Any:
    """Open a VideoCapture, giving up after ``timeout`` seconds even if the backend hangs."""
    ms = int(timeout * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    result: list[Any] = []

    def opener() -> None:
        with _quiet_opencv():  # a missing camera is our clear error, not OpenCV's WARN lines in the cell
            cap = cv2.VideoCapture(spec, cv2.CAP_ANY, params)
        result.append(cap)
        if abandoned.is_set():  # the caller gave up: do not leak the handle
            cap.release()

    abandoned = threading.Event()
    thread = threading.Thread(target=opener, name="livecam-open", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if thread.is_alive():
        abandoned.set()
        raise TimeoutError(f"opening {redact(str(spec))!r} did not finish within {timeout:g} s")
    return result[0]


#: Ports of the URL schemes OpenCV's FFmpeg opens, for a URL that names none.
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "http": 80, "https": 443, "tcp": 0, "udp": 0}


def why_unreachable(url: str, timeout: float) -> str:
    """What FFmpeg keeps to its own stderr: is the host known, does the port answer? One connection
    attempt of our own, made only after OpenCV failed, to say "connection refused" and not just "failed"."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        return "the URL's port is not a number"
    host = parts.hostname
    if not host or not port or parts.scheme.lower() == "udp":
        return "OpenCV's FFmpeg could not open it (unsupported URL, or no stream there)"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return f"host not found ({host!r} does not resolve)"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.settimeout(max(0.1, min(timeout, 5.0)))
        try:
            probe.connect(address)
        except ConnectionRefusedError:
            return f"connection refused ({host}:{port}: nothing listens there)"
        except TimeoutError:
            return f"timed out (no answer from {host}:{port} within {probe.gettimeout():g} s)"
        except OSError as exc:
            return f"{host}:{port} is unreachable ({exc.strerror or exc})"
    return f"{host}:{port} accepts connections, but no stream OpenCV can read answered there"


class CaptureSource:
    """A camera index, file or URL read through ``cv2.VideoCapture``."""

    def __init__(self, spec: int | str, *, loop: bool = False, open_timeout: float = 5.0) -> None:
        self.spec = spec
        self.loop = loop
        self.is_camera = isinstance(spec, int)
        self.is_file = isinstance(spec, str) and not _is_url(spec)
        self.name = f"camera {spec}" if self.is_camera else redact(str(spec))
        if self.is_file and not os.path.exists(str(spec)):
            raise FileNotFoundError(f"video file not found: {spec!r}")
        cap = _open_capture(spec, open_timeout)
        if not cap.isOpened():
            cap.release()
            if self.is_camera:
                raise RuntimeError(
                    f"could not open camera {spec}: no device answered (cv2.VideoCapture({spec}) is not "
                    "opened). Check that a camera is connected and not held by another program; "
                    "LiveFrame(source='testpattern') needs no camera."
                )
            if self.is_file:
                raise RuntimeError(
                    f"OpenCV could not open video file {spec!r} (unsupported format or codec?)"
                )
            why = why_unreachable(str(spec), open_timeout)
            raise RuntimeError(f"could not open stream {self.name!r}: {why}")
        self._cap = cap
        self._lock = threading.Lock()
        file_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        # Files are read as fast as they decode, so they need pacing; cameras and streams pace themselves.
        self.fps: float | None = (file_fps if 0 < file_fps < 1000 else 30.0) if self.is_file else None
        #: A camera or a stream delivers at its own pace (and queues what is not read): read it as it
        #: comes and hand on at most ``fps`` frames a second, rather than reading slower than it makes them.
        self.self_paced = not self.is_file
        self._failures = 0

    def read(self) -> Image | None:
        with self._lock:
            cap = self._cap
            if cap is None:
                raise EndOfSource()
            ok, frame = cap.read()
            if not ok and self.is_file and self.loop:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = cap.read()
        if ok:
            self._failures = 0
            return frame  # type: ignore[no-any-return]
        if self.is_file:
            raise EndOfSource()
        self._failures += 1
        if self._failures in (10, 100) or self._failures % 1000 == 0:
            raise RuntimeError(f"{self.name} returned no frame {self._failures} times in a row")
        time.sleep(0.01)
        return None

    def flush(self, max_frames: int = 8, new_after: float = 0.004) -> None:
        """Drop what a camera or stream queued while nobody read: grab until a grab has to wait for a new
        frame. Files are never flushed (they keep their position)."""
        if self.is_file:
            return
        with self._lock:
            cap = self._cap
            if cap is None:
                return
            for _ in range(max_frames):
                started = time.monotonic()
                if not cap.grab() or time.monotonic() - started > new_after:
                    return

    def close(self) -> None:
        with self._lock:
            cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


class ReaderSource:
    """A user's own capture object (anything with ``read() -> (ok, frame)``); theirs, so never released."""

    fps: float | None = None

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self.name = type(reader).__name__

    def read(self) -> Image | None:
        ok, frame = self._reader.read()
        if not ok:
            raise EndOfSource()
        return frame  # type: ignore[no-any-return]

    def close(self) -> None:
        pass


class IterableSource:
    def __init__(self, frames: Iterable[Any], fps: float | None) -> None:
        self._it: Iterator[Any] = iter(frames)
        self.name = type(frames).__name__
        self.fps = fps
        #: Without a pace of its own, advanced once per frame a viewer asks for.
        self.on_demand = fps is None

    def read(self) -> Image | None:
        try:
            return next(self._it)  # type: ignore[no-any-return]
        except StopIteration:
            raise EndOfSource() from None

    def close(self) -> None:
        close = getattr(self._it, "close", None)  # generators: run their finally blocks
        if callable(close):
            with contextlib.suppress(Exception):
                close()


class CallableSource:
    def __init__(self, fn: Callable[[], Any], fps: float | None) -> None:
        self._fn = fn
        self.name = getattr(fn, "__qualname__", type(fn).__name__)
        self.fps = fps
        #: Without a pace of its own, called once per frame a viewer asks for.
        self.on_demand = fps is None

    def read(self) -> Image | None:
        return self._fn()  # type: ignore[no-any-return]

    def close(self) -> None:
        pass


class TestPatternSource:
    __test__ = False

    def __init__(self, width: int = 640, height: int = 480, fps: float | None = 30.0) -> None:
        self._pattern = TestPattern(width, height)
        self._seq = 0
        self.name = "testpattern"
        self.fps = fps

    def read(self) -> Image | None:
        self._seq += 1
        return self._pattern.frame(self._seq, time.time())

    def close(self) -> None:
        pass


_TESTPATTERN = re.compile(r"^testpattern(?::(\d+)x(\d+))?$")


def make_source(spec: Any, *, loop: bool, fps: float | None, open_timeout: float) -> Source | None:
    """Build the Source for ``LiveFrame(source=spec)``; None for push mode and for a still ndarray."""
    if spec is None:
        return None
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if isinstance(spec, bool):
        raise TypeError(f"source must be {SOURCES_ACCEPTED}; got a bool")
    if isinstance(spec, int):
        return CaptureSource(spec, open_timeout=open_timeout)
    if isinstance(spec, str):
        name = spec.strip().lower()
        if parse_browser_source(spec) is not None:
            return None  # the viewer's camera: frames come from a view (_camera.py), no thread reads them
        match = _TESTPATTERN.match(name)
        if match:
            size = (int(match[1]), int(match[2])) if match[1] else (640, 480)
            return TestPatternSource(*size, fps=fps or 30.0)
        if name.startswith("testpattern"):
            raise ValueError(
                f"unknown test pattern {spec!r}: use 'testpattern' (640x480) or 'testpattern:WxH' such as "
                "'testpattern:1280x720'"
            )
        if spec.strip().isdigit():
            return CaptureSource(int(spec), open_timeout=open_timeout)
        return CaptureSource(spec, loop=loop, open_timeout=open_timeout)
    if hasattr(spec, "__array__") and not callable(spec):
        return None
    if callable(getattr(spec, "read", None)) and not isinstance(spec, Iterator):
        return ReaderSource(spec)
    if callable(spec):
        return CallableSource(spec, fps)
    if isinstance(spec, Iterable) and not isinstance(spec, (bytes, dict)):
        return IterableSource(spec, fps)
    raise TypeError(f"source must be {SOURCES_ACCEPTED}; got {type(spec).__qualname__}")


def device_key(spec: Any) -> str | None:
    """What identifies an exclusive device: camera indices and /dev/video* paths."""
    if isinstance(spec, bool):
        return None
    if isinstance(spec, int):
        return f"camera:{spec}"
    if isinstance(spec, str):
        s = spec.strip()
        if s.isdigit():
            return f"camera:{int(s)}"
        if s.startswith("/dev/"):
            return f"device:{os.path.realpath(s)}"
    return None


class SourceThread(Worker):
    """Reads a source in the background and hands each frame to ``sink``, only while frames are wanted.

    With a ``demand``, a paced source (camera, file, stream, test pattern, or anything with ``fps``) is
    read while ``demand`` says frames are wanted and idles after its grace; an on-demand source (a callable
    or iterable without ``fps``) is read once per frame request. Coming back from idle, a device source
    drops what its driver queued meanwhile (``flush``), so the first frame is fresh.

    Errors are reported and the next frame is tried, except at the end of the source. ``pace`` is asked
    before every frame, so a changed ``fps`` applies at once. A source that paces itself (a camera, a
    stream) is read as it delivers and frames beyond ``pace`` are dropped; every other source is read at
    ``pace`` (as fast as it returns when it has none).
    """

    name = "livecam-source"

    def __init__(
        self,
        source: Source,
        sink: Callable[[Any], object],
        report: Callable[[str], None],
        on_end: Callable[[], None],
        pace: Callable[[], float | None],
        clock: Callable[[], float] = time.monotonic,
        demand: Demand | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.demand = demand
        self._sink = sink
        self._report = report
        self._on_end = on_end
        self._pace = pace
        self._clock = clock
        self._close_source = False

    def stop(self, timeout: float = 5.0) -> bool:
        if self.demand is not None:
            self.demand.interrupt()
        return super().stop(timeout)

    def close(self, timeout: float = 2.0) -> bool:
        """Stop and release the source. A source stuck in ``read()`` (a blocking callable, a dead network
        stream) is released by the thread itself when the call returns, so this waits at most ``timeout``."""
        self._close_source = True
        ended = self.stop(timeout)
        if ended:
            self.source.close()
        return ended

    def _loop(self) -> None:
        self._set_live(True)
        try:
            self._read_frames()
        finally:
            self._set_live(False)
            if self._close_source:
                self.source.close()

    def _set_live(self, live: bool) -> None:
        if self.demand is not None:
            self.demand.live = live

    def _read_frames(self) -> None:
        source, demand, stop = self.source, self.demand, self._stop
        on_demand = getattr(source, "on_demand", False)
        paces_itself = getattr(source, "self_paced", False)
        deadline = Deadline(None)
        served = -1  # the frame requests answered by the last frame handed on (on-demand sources)
        while not stop.is_set():
            if demand is not None:
                go, idled = demand.await_frames(on_demand, served)
                if not go:
                    continue  # interrupted: stopping (the loop condition ends it)
                if idled:
                    deadline = Deadline(None)  # no burst to catch up on the idle time
                    flush = getattr(source, "flush", None)
                    if callable(flush):
                        flush()
                asks = demand.asks
            pace = self._pace()
            if on_demand and demand is not None and demand.held and not pace:
                pace = HELD_FPS  # a recording or keep_running wants a steady rate, not a spin
            deadline.fps = pace
            if not paces_itself:
                wait = deadline.wait_time(self._clock())
                if wait > 0 and stop.wait(wait):
                    break
            try:
                frame = source.read()
            except EndOfSource:
                self._set_live(False)
                self._on_end()
                return
            except Exception as exc:
                self._report(describe_exception(f"source {source.name}", exc))
                if isinstance(source, IterableSource):  # a generator that raised is finished
                    self._set_live(False)
                    self._on_end()
                    return
                stop.wait(0.05)  # a failing source must not spin a core
                continue
            if stop.is_set():
                break
            if frame is None:
                if not pace:
                    stop.wait(0.005)
                continue
            if paces_itself and not deadline.ready(self._clock()):
                continue  # read at the device's pace, handed on at most at ``fps``
            try:
                self._sink(frame)
            except (TypeError, ValueError) as exc:
                self._report(f"source {source.name} produced an invalid frame: {exc}")
                continue
            if demand is not None:
                served = asks
