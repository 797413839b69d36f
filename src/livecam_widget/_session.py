"""Everything one LiveFrame owns besides its traits, as a plain object: testable without anywidget.

A ``Session`` holds the device claim, the source and its thread, the latest-frame slot, the stream and its
place on the shared server, the comm viewers, the recorder, the pointer handlers' thread and the notifier
thread. ``LiveFrame`` is traits and forwarding over it.

Threads: ``update`` runs on whoever pushes (the source thread, or the user's); everything the server's loop
owns is reached through ``server.door``; what the widget must hear (``stats``, ``error``, ``state``) is
handed to ``deliver`` on the notifier thread, never on the loop or the capture thread.
"""

from __future__ import annotations

import contextlib
import functools
import pathlib
import threading
import time
from collections.abc import Sequence
from typing import Any

from . import _handoff, _registry
from ._camera import parse_browser_source
from ._demand import Demand
from ._door import LoopGone
from ._drivers import CommRouter, CommSend
from ._encoder import Look, Settings, process_failure
from ._frames import Image, check_frame, owned_copy
from ._notify import Deliver, Notifier
from ._origin import OriginPolicy
from ._pointer import Handler, PointerHandlers
from ._protocol import PATH_PREFIX
from ._recorder import Recorder
from ._server import FrameServer
from ._slot import Frame, LatestFrame
from ._sources import SourceThread, device_key, make_source
from ._stream import Stream


class Session:
    def __init__(
        self,
        source: Any,
        look: Look,
        deliver: Deliver,
        *,
        owner: _registry.Closable | None = None,
        loop: bool = False,
        fps: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int = 0,
        allowed_origins: Sequence[str] = (),
        exclusive: bool | None = None,
        open_timeout: float = 5.0,
        keep_running: bool = False,
        idle_after: float = 2.0,
    ) -> None:
        """Open the source and register a stream; raises (having released everything) if either fails.

        ``owner`` is what a later claim of the same device closes (the widget); ``deliver(name, value)``
        sets the widget's traits, on the notifier thread."""
        self._lock = threading.RLock()
        self.closed = False
        #: stop() was called: pushed frames are ignored until start().
        self.paused = False
        self._owner: _registry.Closable = owner if owner is not None else self
        self._source_thread: SourceThread | None = None
        self._recorder: Recorder | None = None
        self._fps = fps
        self._host = host
        self._http_port = http_port
        self._device: str | None = None
        key = device_key(source)
        if key is None and exclusive and isinstance(source, str):
            key = f"file:{source}"
        if key is not None and exclusive is not False:
            # Close whoever holds the device *before* opening it, or the camera reports busy.
            _registry.claim_device(key, self._owner)
            self._device = key
        try:
            src = make_source(source, loop=loop, fps=fps, open_timeout=open_timeout)
        except BaseException:
            self._release_device()
            self.closed = True
            raise
        self.slot = LatestFrame()
        self.demand = Demand(grace=idle_after)
        self._keep_running = False
        self.notifier = Notifier(deliver)
        self.pointers = PointerHandlers(self.report_handler_error)
        self.stream = Stream(
            self.slot,
            look,
            OriginPolicy(allowed_origins),
            listener=self.notifier.post,
            on_pointer=self.pointers.dispatch,
            camera=parse_browser_source(source),
            deliver=self.deliver,
        )
        self.server: FrameServer | None = None
        try:
            self.server = _registry.acquire_server(host, port)
            self.server.add(self.stream)
        except BaseException:
            if src is not None:
                src.close()
            self.close()
            raise
        self._comm: CommRouter | None = None
        self._answers: _handoff.HandlerSend | None = None
        if self.stream.camera is not None:
            self.stream.demand = self.demand
            self.stream.camera.wanted = self.demand.wanted
        if src is not None:
            self.stream.demand = self.demand
            self._source_thread = SourceThread(
                src, self._take, self.report_source_error, self._on_end, self.source_fps, demand=self.demand
            )
        elif source is not None and self.stream.camera is None:  # a still ndarray
            self.update(source)
        self.keep_running = keep_running

    # -- where to watch -----------------------------------------------------------------------------------
    def _url_host(self) -> str:
        host = self._host if self._host not in ("0.0.0.0", "", "::") else "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def url(self) -> str:
        """The full ws:// URL of the stream, token included (empty once closed)."""
        server = self.server
        if self.closed or server is None:
            return ""
        stream = self.stream
        return f"ws://{self._url_host()}:{server.port}{PATH_PREFIX}{stream.id}?token={stream.token}"

    def http_url(self, leaf: str) -> str:
        """A URL on the HTTP listener (started on first use); empty once closed."""
        server = self.server
        if self.closed or server is None:
            return ""
        http = server.http(self._http_port)
        stream = self.stream
        return f"http://{self._url_host()}:{http.port}{PATH_PREFIX}{stream.id}/{leaf}?token={stream.token}"

    @property
    def port(self) -> int:
        return self.server.port if self.server is not None else 0

    # -- frames -------------------------------------------------------------------------------------------
    def update(self, frame: Any) -> None:
        """Validate, copy, drop in the slot. Never waits for encoding or the network."""
        checked = check_frame(frame)
        if self.closed or self.paused:
            return
        self.slot.put(owned_copy(checked))

    def deliver(self, image: Image, t_capture: float) -> None:
        """A frame from the viewer's camera (decoded on the encode pool; ``t_capture`` on this clock)."""
        if not (self.closed or self.paused):
            self.slot.put(image, t_capture)

    def _take(self, frame: Any) -> None:
        """The source thread's sink: into the slot, and through ``process`` at once with keep_running
        (a process with side effects keeps running when nobody watches)."""
        self.update(frame)
        if self._keep_running:
            newest = self.slot.peek()
            if newest is not None:
                try:
                    self.render(newest)
                except Exception as exc:
                    self.report_source_error(process_failure(exc))

    @property
    def keep_running(self) -> bool:
        return self._keep_running

    @keep_running.setter
    def keep_running(self, on: bool) -> None:
        with self._lock:
            if bool(on) == self._keep_running:
                return
            self._keep_running = bool(on)
            if on:
                self.demand.hold()
            else:
                self.demand.release()

    def render(self, frame: Frame) -> Image:
        """``frame`` under the current look; the encoder's render cache is shared with the views."""
        return self.stream.look.render(self.stream.cache.encoder, frame)

    def snapshot(self, timeout: float = 2.0) -> Image | None:
        """The newest frame under the current look, as an array the caller owns; raises what process
        raised. A source idle for lack of viewers is woken for it: the frame is one captured after the
        call (within ``timeout`` seconds; else the newest there is)."""
        if self.demand.live:
            seen = self.slot.count
            stale = self.demand.ask()
            try:
                deadline = time.monotonic() + timeout
                while (
                    (stale or self.slot.peek() is None)
                    and self.slot.count <= seen
                    and time.monotonic() < deadline
                    and self.demand.live
                ):
                    time.sleep(0.005)
            finally:
                self.demand.done()
        frame = self.slot.peek()
        return None if frame is None else self.render(frame).copy()

    def source_fps(self) -> float | None:
        """The pace of the source: ``fps=`` when given, else the source's own (a file's rate)."""
        thread = self._source_thread
        if thread is None:
            return None
        return self._fps or thread.source.fps

    # -- changes (widget thread) --------------------------------------------------------------------------
    def restyle(self, settings: Settings | None = None, process: Any = False) -> None:
        """A new look for every view; waits (microseconds) so a snapshot() right after sees it."""
        self._in_loop(lambda stream: stream.restyle(settings, process), wait=True)

    def set_max_fps(self, max_fps: float) -> None:
        self._in_loop(lambda stream: stream.set_max_fps(max_fps), wait=True)

    def set_state(self, state: str) -> None:
        self._in_loop(lambda stream: stream.set_state(state), wait=False)

    def _in_loop(self, change: Any, wait: bool) -> None:
        server = self.server
        if server is None:
            return
        with contextlib.suppress(LoopGone):
            if wait:
                server.door.call(change, self.stream)
            else:
                server.door.post(change, self.stream)

    # -- errors (any thread) ------------------------------------------------------------------------------
    def report_source_error(self, message: str) -> None:
        server = self.server
        if server is None or not server.door.post(self.stream.set_error, message):
            self.notifier.post("error", message)

    def report_handler_error(self, message: str | None) -> None:
        server = self.server
        if server is None or not server.door.post(self.stream.set_handler_error, message):
            self.notifier.post("error", message)

    def _on_end(self) -> None:
        self.set_state("ended")
        self.notifier.post("state", "ended")

    # -- comm transport -----------------------------------------------------------------------------------
    def comm_message(self, content: Any, send: CommSend, buffers: list[bytes] | None = None) -> None:
        """A message from a view on the comm transport, on whichever kernel thread handled it (the main
        thread, or a subshell's): hand it to the loop at once."""
        server = self.server
        if server is None or not isinstance(content, dict) or not isinstance(content.get("view"), str):
            return
        on_main = threading.current_thread() is threading.main_thread()
        self.stream.comm_requests_on = "main thread" if on_main else "subshell"
        view = content["view"][:64]
        with self._lock:  # the main thread and a subshell may both get here first
            if self._comm is None:
                self._answers = _handoff.HandlerSend(send) if _handoff.wanted() else None
                sender = self._answers or send
                self._comm = CommRouter(self.stream, sender, server.limits, server.clock, server.wall)
            router, answers = self._comm, self._answers
        post = functools.partial(server.door.post, router.message, view, content, buffers)
        # With answers, the answer (the hello, or the granted frame) leaves from this thread: Colab; see
        # _handoff. Other messages (pointer events, camera frames) have no answer to wait for.
        kinds: tuple[str, ...] | None = None
        if answers is not None:
            if content.get("livecam") == "open":
                kinds = ("text",)
            elif content.get("livecam") == "message" and _handoff.is_grant(content.get("text")):
                kinds = ("frame",)
        if answers is None or kinds is None:
            post()
        else:
            answers.answer(view, kinds, post)

    # -- pointer events, recording ------------------------------------------------------------------------
    def on_pointer(self, event: str, fn: Handler, remove: bool) -> None:
        self.pointers.register(event, fn, remove)

    def record(self, path: str, fps: float | None, fourcc: str | None) -> None:
        with self._lock:
            if self.closed:
                raise RuntimeError("this LiveFrame is closed; create a new one")
            if self._recorder is not None:
                raise RuntimeError(
                    f"already recording to {self._recorder.path!r}; call stop_recording() first"
                )
            folder = pathlib.Path(path).parent
            if not folder.is_dir():  # fail here, not later on the recorder's thread
                raise FileNotFoundError(f"cannot record to {path!r}: no folder {str(folder)!r}")
            pace = fps or self.source_fps() or self._fps or 30.0
            recorder = Recorder(
                path, self.slot, self.render, pace, fourcc=fourcc, on_error=self.report_source_error
            )
            recorder.start()
            self._recorder = recorder
            self.demand.hold()  # a recording wants frames as a view does

    def stop_recording(self) -> str | None:
        with self._lock:
            recorder, self._recorder = self._recorder, None
        if recorder is None:
            return None
        self.demand.release()
        recorder.stop(timeout=10.0)
        return recorder.path

    @property
    def recording(self) -> str | None:
        recorder = self._recorder
        return recorder.path if recorder is not None else None

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self.closed:
                raise RuntimeError("this LiveFrame is closed; create a new one")
            if self._source_thread is not None:
                self._source_thread.start()
            self.paused = False
            self.set_state("live")

    def stop(self) -> None:
        with self._lock:
            if self.closed:
                return
            if self._source_thread is not None:
                self._source_thread.stop(timeout=2.0)
            self.paused = True
            self.set_state("paused")

    def close(self) -> bool:
        """Release the source, the threads, the connections and the port; idempotent, any thread.
        False when it was already closed."""
        with self._lock:
            if self.closed and self.server is None:
                return False
            self.closed = True
            thread, self._source_thread = self._source_thread, None
            server, self.server = self.server, None
        if thread is not None:
            thread.close()
        self.stop_recording()
        pointers = self.__dict__.get("pointers")
        if pointers is not None:
            pointers.close()
        notifier = self.__dict__.get("notifier")
        if notifier is not None:
            notifier.close()
        if server is not None:
            server.remove(self.stream)
            _registry.release_server(server)
        self._release_device()
        if "slot" in self.__dict__:
            self.slot.clear()  # the last frame's memory; views keep what they painted
        return True

    def _release_device(self) -> None:
        if self._device is not None:
            _registry.release_device(self._device, self._owner)
