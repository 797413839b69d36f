"""``LiveFrame``: the one public widget class, traits and forwarding over a ``_session.Session``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import anywidget
import traitlets

from . import _frontend, _h264, _registry
from ._checks import checked_max_fps, checked_max_size, checked_quality
from ._encoder import FORMATS, VIDEO_FORMATS, Look, Settings, process_failure
from ._frames import CHANNELS, Image
from ._pointer import Handler
from ._protocol import PATH_PREFIX
from ._quality import LADDER
from ._server import TRANSPORTS
from ._session import Session
from ._stats import closed_report

_ESM, _CSS = _frontend.paths()
T = TypeVar("T")


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
    #: The state badge in the top-left corner: "auto" (the "live" badge fades once the picture is live;
    #: every other state stays shown), "on" (always shown) or "off" (only errors and "closed" are shown).
    badge = traitlets.Enum(("auto", "on", "off"), default_value="auto").tag(sync=True)
    #: "auto" (direct WebSocket, then jupyter-server-proxy, then the comm channel), or one of them.
    transport = traitlets.Enum(TRANSPORTS, default_value="auto").tag(sync=True)

    #: Per-viewer frame-rate cap; 0 lifts it.
    max_fps = traitlets.Float(30.0)
    #: JPEG quality, 1..100, or "auto": per viewer, lowered (then the resolution) while that viewer cannot
    #: keep up with max_fps and raised again once it can with room to spare.
    quality = traitlets.Union([traitlets.Int(), traitlets.Unicode()], default_value=80)
    #: Downscale for display so the longest side is at most this many pixels; 0 keeps the size.
    max_size = traitlets.Int(0)
    #: "jpeg" (fast, small), "png" (lossless), "h264" (video: a fraction of JPEG's bytes, for slow links;
    #: needs PyAV, and views that decode it with WebCodecs, the others get JPEG) or "auto" (JPEG, and H.264
    #: for a view whose link cannot carry the JPEG frames).
    format = traitlets.Enum((*FORMATS, *VIDEO_FORMATS), default_value="jpeg")
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
        keep_running: bool = False,
        replace_on_rerun: bool = True,
        autostart: bool = True,
        **kwargs: Any,
    ) -> None:
        self._session: Session | None = None
        cell = _registry.current_cell() if replace_on_rerun else None
        if cell is not None:
            _registry.close_earlier_runs(cell)  # before opening the source: the old one may hold it
        # What open() needs to build the session, once the traits below are validated.
        self._opening: dict[str, Any] | None = dict(
            source=source,
            loop=loop,
            fps=fps,
            host=host,
            port=port,
            http_port=http_port,
            allowed_origins=allowed_origins,
            exclusive=exclusive,
            open_timeout=open_timeout,
            keep_running=keep_running,
        )
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
        self.on_msg(self._on_comm_message)
        _registry.opened(self)
        if cell is not None:
            _registry.made_in(cell, self)
        if autostart:
            self.start()

    def open(self) -> None:
        """Open the source and the stream, then the comm to the frontend (ipywidgets calls this at the end
        of construction, with every trait validated). A source that cannot open raises here, having
        released what it opened, before any comm exists: the browser never hears of a widget that failed."""
        opening = self.__dict__.get("_opening")
        if opening is not None:
            self._opening = None
            session = Session(
                opening.pop("source"),
                Look(settings=self._settings(), process=self.process, max_fps=self.max_fps),
                self._deliver,
                owner=self,
                **opening,
            )
            self._session = session
            with self.hold_trait_notifications():
                self._ws_port = session.port
                self._ws_path = PATH_PREFIX + session.stream.id
                self._token = session.stream.token
                self._url = session.url
        super().open()

    # -- public API ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The full ws:// URL of this widget's stream, token included (empty once closed)."""
        session = self._session
        return session.url if session is not None else ""

    def _http_url(self, leaf: str) -> str:
        session = self._session
        return session.http_url(leaf) if session is not None else ""

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
    def keep_running(self) -> bool:
        """Read the source and run ``process`` on every frame even when nobody watches (for a ``process``
        with side effects). Off by default: with no view, recording or ``snapshot()`` asking for frames, a
        source idles after 2 s (a camera stays open but is not read; a file keeps its position)."""
        session = self._session
        return session is not None and session.keep_running

    @keep_running.setter
    def keep_running(self, on: bool) -> None:
        self._live_session().keep_running = on

    @property
    def port(self) -> int:
        session = self._session
        return session.port if session is not None else 0

    def update(self, frame: Any) -> None:
        """Show ``frame`` next. Never waits for encoding or the network: validate, copy, drop in the slot."""
        self._live_session().update(frame)

    def snapshot(self) -> Image | None:
        """The latest frame after ``process``, as a BGR/BGRA/gray uint8 array you own, or None."""
        try:
            return self._live_session().snapshot()
        except Exception as exc:
            self.error = process_failure(exc)
            raise

    def on_click(self, fn: Handler, remove: bool = False) -> None:
        """Call ``fn(x, y, button)`` on a click on a view: source frame pixels; button 0 left, 1 mid, 2 right.

        Handlers run on a thread of their own, also while a cell runs (on the direct and proxy transports);
        an exception is shown in ``lf.error`` and on the views. ``remove=True`` unregisters ``fn``.
        """
        self._live_session().on_pointer("click", fn, remove)

    def on_drag(self, fn: Handler, remove: bool = False) -> None:
        """Call ``fn(x0, y0, x1, y1)`` when a rectangle is dragged on a view (source frame pixels, x0 <= x1,
        y0 <= y1), e.g. to pick a region of interest. Same thread and error rules as :meth:`on_click`."""
        self._live_session().on_pointer("drag", fn, remove)

    def record(self, path: str, *, fps: float | None = None, fourcc: str | None = None) -> None:
        """Record what the views show (frames after ``process``) to a video file, until
        :meth:`stop_recording` or :meth:`close`.

        Written with ``cv2.VideoWriter`` at the source's pace (``fps`` to override; 30 when the source has
        none), in a thread of its own that reads the newest frame: it never slows the producer or the views.
        The codec follows the file name (.mp4/.mov/.mkv: mp4v, .avi: MJPG) unless ``fourcc`` is given.
        """
        self._live_session().record(path, fps, fourcc)

    def stop_recording(self) -> str | None:
        """Finish the file (waits for the last write); returns its path, or None when not recording."""
        return self._live_session().stop_recording()

    @property
    def recording(self) -> str | None:
        """The path being recorded to, or None."""
        return self._live_session().recording

    def start(self) -> None:
        """Resume capture (and pushed frames)."""
        self._live_session().start()
        self.set_trait("state", "live")

    def stop(self) -> None:
        """Pause capture: the source is not read and pushed frames are ignored until start()."""
        session = self._live_session()
        if not session.closed:
            session.stop()
            self.set_trait("state", "paused")

    def close(self, *, keep_view: bool = True) -> None:
        """Release the camera/file, the threads, the connections and the port. Idempotent, any thread.

        Views stay on the page showing the last frame and "closed", so it is clear what happened; with
        ``keep_view=False`` the widget itself is closed too (ipywidgets' ``close``) and views disappear.
        """
        session = self.__dict__.get("_session")
        if session is not None and session.close():
            self.set_trait("state", "closed")
            self.stats = closed_report(self.stats or {})
            _registry.closed(self)
            if keep_view:
                with contextlib.suppress(Exception), self.hold_sync():  # one message: no "connecting" flicker
                    self._closed = True
                    self._url = ""
                    self._token = ""
        if not keep_view:
            super().close()

    @classmethod
    def close_all(cls) -> None:
        """Close every LiveFrame of this process (views stay, saying "closed"); also runs at exit."""
        _registry.close_all()

    def __enter__(self) -> LiveFrame:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        session = self._session
        return session is None or session.closed

    def __repr__(self) -> str:
        return describe(self.state, self.stats or {}, self.error)

    # -- internals ----------------------------------------------------------------------------------------
    def _live_session(self) -> Session:
        session = self._session
        if session is None:
            raise RuntimeError("this LiveFrame did not open; create a new one")
        return session

    def _settings(self) -> Settings:
        return Settings(
            format=self.format,
            quality=LADDER[0].quality if self.quality == "auto" else self.quality,
            max_size=self.max_size,
            channels=self.channels,
            auto_quality=self.quality == "auto",
        )

    def _deliver(self, name: str, value: Any) -> None:
        # On the session's notifier thread: user observers of these traits run there, never on the loop.
        if name == "state":
            if self.state not in ("closed", "paused"):
                self.set_trait("state", value)
        else:
            setattr(self, name, value)

    def _on_comm_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        # Runs on the kernel's main thread between cells, or on a subshell's thread (Session.comm_message
        # notes which): hand over to the server loop at once.
        session = self._session
        if session is not None:
            session.comm_message(content, self._comm_send, [bytes(b) for b in buffers or ()])

    def _comm_send(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        # Called on the server thread; ipykernel sends on IOPub through its own thread-safe queue.
        with contextlib.suppress(Exception):
            self.send(content, buffers=buffers or None)

    @traitlets.validate("max_fps")
    def _check_fps(self, proposal: Any) -> float:
        return _trait_checked("max_fps", checked_max_fps, proposal["value"])

    @traitlets.validate("format")
    def _check_format(self, proposal: Any) -> str:
        value = str(proposal["value"])
        missing = _h264.available() if value in VIDEO_FORMATS else None
        if missing is not None:
            raise traitlets.TraitError(missing)
        return value

    @traitlets.validate("quality")
    def _check_quality(self, proposal: Any) -> int | str:
        return _trait_checked("quality", checked_quality, proposal["value"])

    @traitlets.validate("width", "height")
    def _check_display_size(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value < 0:
            name = proposal["trait"].name
            raise traitlets.TraitError(f"{name} must be 0 (auto) or a size in CSS pixels, got {value}")
        return value

    @traitlets.validate("max_size")
    def _check_max_size(self, proposal: Any) -> int:
        return _trait_checked("max_size", checked_max_size, proposal["value"])

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
        session = self.__dict__.get("_session")
        if session is not None:
            session.set_max_fps(change["new"])

    @traitlets.observe("quality", "max_size", "format", "channels")
    def _look_changed(self, change: Any) -> None:
        session = self.__dict__.get("_session")
        if session is not None:
            session.restyle(self._settings(), False)

    @traitlets.observe("process")
    def _process_changed(self, change: Any) -> None:
        session = self.__dict__.get("_session")
        if session is not None:
            session.restyle(None, change["new"])


def _trait_checked(name: str, check: Callable[[Any], T], value: Any) -> T:
    try:
        return check(value)
    except ValueError as exc:
        raise traitlets.TraitError(f"{name} {exc}") from None


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
