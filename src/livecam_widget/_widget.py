"""``LiveFrame``: the one public widget class; everything else is a private helper."""

from __future__ import annotations

import atexit
import contextlib
import pathlib
import threading
import weakref
from typing import Any

import anywidget
import traitlets

from . import _frontend
from ._encoder import FORMATS, Settings, describe_exception
from ._frames import CHANNELS, Image, check_frame, owned_copy
from ._origin import OriginPolicy
from ._pointer import Handler, PointerHandlers
from ._protocol import PATH_PREFIX
from ._quality import LADDER
from ._recorder import Recorder
from ._server import TRANSPORTS, FrameServer, Stream, acquire_server, release_server
from ._slot import Frame, LatestFrame
from ._sources import SourceThread, claim_device, device_key, make_source, release_device

_ESM, _CSS = _frontend.load()
_live: weakref.WeakSet[LiveFrame] = weakref.WeakSet()


class LiveFrame(anywidget.AnyWidget):
    """A live view of a camera, video file, stream, generator, callable or pushed numpy frames.

    Frames go into a latest-frame slot (the producer never waits, stale frames are dropped), are encoded
    only when a viewer asks, once for all viewers, and reach the browser over a local WebSocket that each
    view pulls from after painting the previous frame; so the picture stays fresh however slow the
    browser or the link. See README.md and docs/protocol.md.
    """

    _esm = _ESM
    _css = _CSS
    _url = traitlets.Unicode("").tag(sync=True)
    _closed = traitlets.Bool(False).tag(sync=True)
    # Where the frontend finds the stream, for each transport: the direct URL above (without its token),
    # the server's port and path for jupyter-server-proxy, and the token it offers as a subprotocol.
    _ws_port = traitlets.Int(0).tag(sync=True)
    _ws_path = traitlets.Unicode("").tag(sync=True)
    _token = traitlets.Unicode("").tag(sync=True)
    #: Show the stats overlay (fps, latency, frame size and bytes, drops, transport) on every view.
    overlay = traitlets.Bool(False).tag(sync=True)
    #: Display size in CSS pixels, 0 = auto; with both set the picture fits inside, aspect ratio kept.
    width = traitlets.Int(0).tag(sync=True)
    height = traitlets.Int(0).tag(sync=True)
    #: "auto" (direct WebSocket, then jupyter-server-proxy, then the comm channel), or one of them.
    transport = traitlets.Enum(TRANSPORTS, default_value="auto").tag(sync=True)

    #: Per-viewer frame-rate cap; 0 lifts it.
    max_fps = traitlets.Float(30.0)
    #: JPEG quality, 1..100, or "auto": per viewer, lowered (then the resolution) while that viewer cannot
    #: keep up with max_fps and raised again once it can with room to spare.
    quality = traitlets.Union([traitlets.Int(), traitlets.Unicode()], default_value=80)
    #: Downscale for display so the longest side is at most this many pixels; 0 keeps the size.
    max_size = traitlets.Int(0)
    #: "jpeg" (fast, small) or "png" (lossless).
    format = traitlets.Enum(tuple(FORMATS), default_value="jpeg")
    #: Channel order of incoming 3/4-channel frames: "bgr" (OpenCV) or "rgb".
    channels = traitlets.Enum(CHANNELS, default_value="bgr")
    #: frame -> frame, applied before display (BGR uint8 in); reassign any time.
    process = traitlets.Any(None)
    #: Refreshed about once a second on the server thread: fps_source, fps_sent, fps_painted, latency_ms...
    stats = traitlets.Dict()
    #: Text of the last source/process error, None once a frame displays again.
    error = traitlets.Unicode(None, allow_none=True)
    #: "live", "paused", "ended" (source finished) or "closed".
    state = traitlets.Unicode("live", read_only=True)

    def __init__(
        self,
        source: Any = None,
        *,
        loop: bool = False,
        fps: float | None = None,
        max_fps: float = 30.0,
        quality: int | str = 80,
        max_size: int = 0,
        format: str = "jpeg",
        channels: str = "bgr",
        process: Any = None,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int = 0,
        allowed_origins: tuple[str, ...] | list[str] = (),
        exclusive: bool | None = None,
        transport: str = "auto",
        open_timeout: float = 5.0,
        autostart: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            max_fps=max_fps,
            quality=quality,
            max_size=max_size,
            format=format,
            channels=channels,
            process=process,
            transport=transport,
            **kwargs,
        )
        self._lock = threading.RLock()
        self._is_closed = False
        self._source_thread: SourceThread | None = None
        self._server: FrameServer | None = None
        self._recorder: Recorder | None = None
        self._fps = fps
        self._device: str | None = None
        key = device_key(source)
        if key is None and exclusive and isinstance(source, str):
            key = f"file:{source}"
        if key is not None and exclusive is not False:
            # Close whoever holds the device *before* opening it, or the camera reports busy.
            claim_device(key, self)
            self._device = key
        try:
            src = make_source(source, loop=loop, fps=fps, open_timeout=open_timeout)
        except BaseException:
            if self._device is not None:
                release_device(self._device, self)
            self._is_closed = True
            super().close()
            raise
        self._slot = LatestFrame()
        self._pointers = PointerHandlers(self._report_handler_error)
        self._stream = Stream(
            self._slot,
            settings=self._settings(),
            process=self.process,
            max_fps=self.max_fps,
            origins=OriginPolicy(allowed_origins),
            on_stats=self._on_stats,
            on_error=self._on_error,
            on_pointer=self._pointers.dispatch,
        )
        try:
            self._server = acquire_server(host, port)
            self._server.add(self._stream)
        except BaseException:
            if src is not None:
                src.close()
            self.close(keep_view=False)
            raise
        self._host = host
        self._http_port = http_port
        self._ws_port = self._server.port
        self._ws_path = PATH_PREFIX + self._stream.id
        self._token = self._stream.token
        self._url = self.url
        self.on_msg(self._on_comm_message)
        if src is not None:
            self._source_thread = SourceThread(
                src, self.update, self._report_source_error, self._on_end, self._pace
            )
        elif source is not None:  # a still ndarray
            self.update(source)
        _live.add(self)
        if autostart:
            self.start()

    # -- public API ---------------------------------------------------------------------------------------
    def _url_host(self) -> str:
        host = self._host if self._host not in ("0.0.0.0", "", "::") else "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def url(self) -> str:
        """The full ws:// URL of this widget's stream, token included (empty once closed)."""
        if self._is_closed or self._server is None:
            return ""
        return f"ws://{self._url_host()}:{self._server.port}{PATH_PREFIX}{self._stream.id}?token={self._stream.token}"

    def _http_url(self, leaf: str) -> str:
        server = self._server
        if self._is_closed or server is None:
            return ""
        http = server.http(self._http_port)
        return f"http://{self._url_host()}:{http.port}{PATH_PREFIX}{self._stream.id}/{leaf}?token={self._stream.token}"

    @property
    def page_url(self) -> str:
        """A standalone page with the live view, for any browser (starts the HTTP listener)."""
        return self._http_url("")

    @property
    def mjpeg_url(self) -> str:
        """An MJPEG stream for <img> tags, VLC or OBS: newest frame per viewer, capped at max_fps."""
        return self._http_url("stream.mjpg")

    @property
    def snapshot_url(self) -> str:
        """The latest (processed) frame as one JPEG."""
        return self._http_url("snapshot.jpg")

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else 0

    def update(self, frame: Any) -> None:
        """Show ``frame`` next. Never waits for encoding or the network: validate, copy, drop in the slot."""
        checked = check_frame(frame)
        if self._is_closed or self.state == "paused":
            return
        self._slot.put(owned_copy(checked))

    def snapshot(self) -> Image | None:
        """The latest frame after ``process``, as a BGR/BGRA/gray uint8 array you own, or None."""
        frame = self._slot.peek()
        if frame is None:
            return None
        try:
            image = self._render(frame)
        except Exception as exc:
            self._on_error(describe_exception("process()", exc))
            raise
        return image.copy()

    def _render(self, frame: Frame) -> Image:
        # The shared render cache: a frame a view already processed is not processed again.
        stream = self._stream
        return stream.encoder.render(frame, stream.rev, stream.settings, stream.process)

    def on_click(self, fn: Handler, remove: bool = False) -> None:
        """Call ``fn(x, y, button)`` on a click on a view: source frame pixels; button 0 left, 1 mid, 2 right.

        Handlers run on a thread of their own, also while a cell runs (on the direct and proxy transports);
        an exception is shown in ``lf.error`` and on the views. ``remove=True`` unregisters ``fn``.
        """
        self._pointers.register("click", fn, remove)

    def on_drag(self, fn: Handler, remove: bool = False) -> None:
        """Call ``fn(x0, y0, x1, y1)`` when a rectangle is dragged on a view (source frame pixels, x0 <= x1,
        y0 <= y1), e.g. to pick a region of interest. Same thread and error rules as :meth:`on_click`."""
        self._pointers.register("drag", fn, remove)

    def record(self, path: str, *, fps: float | None = None, fourcc: str | None = None) -> None:
        """Record what the views show (frames after ``process``) to a video file, until
        :meth:`stop_recording` or :meth:`close`.

        Written with ``cv2.VideoWriter`` at the source's pace (``fps`` to override; 30 when the source has
        none), in a thread of its own that reads the newest frame: it never slows the producer or the views.
        The codec follows the file name (.mp4/.mov/.mkv: mp4v, .avi: MJPG) unless ``fourcc`` is given.
        """
        with self._lock:
            if self._is_closed:
                raise RuntimeError("this LiveFrame is closed; create a new one")
            if self._recorder is not None:
                raise RuntimeError(
                    f"already recording to {self._recorder.path!r}; call stop_recording() first"
                )
            folder = pathlib.Path(path).parent
            if not folder.is_dir():  # fail here, not later on the recorder's thread
                raise FileNotFoundError(f"cannot record to {path!r}: no folder {str(folder)!r}")
            pace = fps or self._pace() or self._fps or 30.0
            recorder = Recorder(
                path, self._slot, self._render, pace, fourcc=fourcc, on_error=self._report_source_error
            )
            recorder.start()
            self._recorder = recorder

    def stop_recording(self) -> str | None:
        """Finish the file (waits for the last write); returns its path, or None when not recording."""
        with self._lock:
            recorder, self._recorder = self._recorder, None
        if recorder is None:
            return None
        recorder.stop(timeout=10.0)
        return recorder.path

    @property
    def recording(self) -> str | None:
        """The path being recorded to, or None."""
        recorder = self._recorder
        return recorder.path if recorder is not None else None

    def start(self) -> None:
        """Resume capture (and pushed frames)."""
        with self._lock:
            if self._is_closed:
                raise RuntimeError("this LiveFrame is closed; create a new one")
            if self._source_thread is not None:
                self._source_thread.start()
            self._set_state("live")

    def stop(self) -> None:
        """Pause capture: the source is not read and pushed frames are ignored until start()."""
        with self._lock:
            if self._is_closed:
                return
            if self._source_thread is not None:
                self._source_thread.stop(timeout=2.0)
            self._set_state("paused")

    def close(self, *, keep_view: bool = True) -> None:
        """Release the camera/file, the threads, the connections and the port. Idempotent, any thread.

        Views stay on the page showing the last frame and "closed", so it is clear what happened; with
        ``keep_view=False`` the widget itself is closed too (ipywidgets' ``close``) and views disappear.
        """
        lock = self.__dict__.get("_lock")
        if lock is None:  # __init__ failed before anything started (ipywidgets' __del__ calls close)
            if not keep_view:
                super().close()
            return
        with lock:
            if self._is_closed and self._server is None:
                if not keep_view:
                    super().close()
                return
            self._is_closed = True
            thread, self._source_thread = self._source_thread, None
            server, self._server = self._server, None
        if thread is not None:
            thread.close()
        self.stop_recording()
        self._pointers.close()
        if server is not None:
            server.remove(self._stream)
            release_server(server)
        if self._device is not None:
            release_device(self._device, self)
        self.set_trait("state", "closed")
        self._slot.clear()  # the last frame's memory; views keep what they painted
        _live.discard(self)
        if keep_view:
            with contextlib.suppress(Exception), self.hold_sync():  # one message: no "connecting" flicker
                self._closed = True
                self._url = ""
                self._token = ""
        else:
            super().close()

    def __enter__(self) -> LiveFrame:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._is_closed

    def __repr__(self) -> str:
        return describe(self.state, self.stats or {}, self.error)

    # -- internals ----------------------------------------------------------------------------------------
    def _settings(self) -> Settings:
        return Settings(
            format=self.format,
            quality=LADDER[0].quality if self.quality == "auto" else self.quality,
            max_size=self.max_size,
            channels=self.channels,
            auto_quality=self.quality == "auto",
        )

    def _pace(self) -> float | None:
        thread = self._source_thread
        return thread.source.fps if thread is not None else None

    def _set_state(self, state: str) -> None:
        self.set_trait("state", state)
        if self._server is not None:
            self._server.call(self._stream.set_state, state, wait=False)

    def _report_source_error(self, message: str) -> None:
        if self._server is not None:
            self._server.call(self._stream.set_error, message, wait=False)
        else:
            self.error = message

    def _report_handler_error(self, message: str | None) -> None:
        server = self._server
        if server is not None:
            server.call(self._stream.set_handler_error, message, wait=False)
        else:
            self.error = message

    def _on_comm_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        # Runs on the kernel's main thread, only when it is idle: hand over to the server loop at once.
        server = self._server
        if server is None or not isinstance(content, dict) or not isinstance(content.get("view"), str):
            return
        view = content["view"][:64]
        server.call(
            self._stream.comm_message,
            view,
            content,
            self._comm_send,
            server.limits,
            server.clock,
            server.wall,
            wait=False,
        )

    def _comm_send(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        # Called on the server thread; ipykernel sends on IOPub through its own thread-safe queue.
        with contextlib.suppress(Exception):
            self.send(content, buffers=buffers or None)

    def _on_end(self) -> None:
        self._set_state("ended")

    def _on_stats(self, stats: dict[str, Any]) -> None:
        self.stats = stats

    def _on_error(self, message: str | None) -> None:
        self.error = message

    @traitlets.validate("max_fps")
    def _check_fps(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not value >= 0 or value == float("inf"):
            raise traitlets.TraitError(f"max_fps must be a finite number >= 0 (0: no cap), got {value}")
        return value

    @traitlets.validate("quality")
    def _check_quality(self, proposal: Any) -> int | str:
        value = proposal["value"]
        if value == "auto":
            return "auto"
        if isinstance(value, str) or not 1 <= int(value) <= 100:
            raise traitlets.TraitError(f'quality must be 1..100 or "auto", got {value!r}')
        return int(value)

    @traitlets.validate("width", "height")
    def _check_display_size(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value < 0:
            name = proposal["trait"].name
            raise traitlets.TraitError(f"{name} must be 0 (auto) or a size in CSS pixels, got {value}")
        return value

    @traitlets.validate("max_size")
    def _check_max_size(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value < 0 or 0 < value < 16:
            raise traitlets.TraitError(
                f"max_size must be 0 (no downscale) or at least 16 pixels, got {value}"
            )
        return value

    @traitlets.validate("process")
    def _check_process(self, proposal: Any) -> Any:
        fn = proposal["value"]
        if fn is not None and not callable(fn):
            raise traitlets.TraitError(
                f"process must be a callable frame -> frame or None, got {type(fn).__name__}"
            )
        return fn

    @traitlets.observe("max_fps")
    def _max_fps_changed(self, change: Any) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.call(setattr, self._stream, "max_fps", change["new"])

    @traitlets.observe("quality", "max_size", "format", "channels")
    def _look_changed(self, change: Any) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            # Waits (microseconds) so that snapshot() right after the change already sees it.
            server.call(self._stream.restyle, self._settings(), False)

    @traitlets.observe("process")
    def _process_changed(self, change: Any) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.call(self._stream.restyle, None, change["new"])


def describe(state: str, stats: dict[str, Any], error: str | None) -> str:
    """One line for ``repr``/``print``: the state, then the numbers someone debugging a slow view asks for."""
    size = stats.get("frame_size")
    parts = [f"<LiveFrame {state}"]
    if size:
        parts.append(f"{size[0]}x{size[1]}")
    for key in ("fps_source", "fps_sent", "fps_painted", "latency_ms", "clients", "dropped"):
        parts.append(f"{key}={stats.get(key, 0 if key != 'latency_ms' else None)}")
    for key in ("bytes_per_frame", "encode_ms"):
        if stats.get(key) is not None:
            parts.append(f"{key}={stats[key]}")
    if error:
        parts.append(f"error={error!r}")
    return " ".join(parts) + ">"


def _close_all() -> None:
    # Daemon threads die abruptly at exit; closing first releases cameras and says goodbye to viewers.
    for widget in list(_live):
        with contextlib.suppress(Exception):
            widget.close()


# Before the interpreter joins threads and shuts down thread pools (threading's own exit hook), so viewers
# get a clean goodbye instead of "cannot schedule new futures after shutdown"; atexit as a fallback.
_register_early = getattr(threading, "_register_atexit", None)
if callable(_register_early):
    _register_early(_close_all)
atexit.register(_close_all)
