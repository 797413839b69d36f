"""One widget's stream as the server sees it: the slot, the look, the encode cache, the status, the viewers.

Build a ``Stream`` on any thread; once ``FrameServer.add`` has attached it, it is loop-owned: every method
but :meth:`Stream.notify` and :meth:`Stream._eligible` runs on the server's loop thread (other threads get
there through the server's door). Other threads may read ``look`` (an immutable value the loop swaps whole),
``slot``, ``id`` and ``token``, and nothing else.

Nothing here runs user code. What the widget must hear (stats, errors) goes to ``listener``, which only
hands it to the widget's notifier thread; ``process`` runs on the encode cache's picker thread or the
encode pool; pointer events go to the widget's handler thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import math
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from ._camera import BrowserCamera, CameraWish, Deliver
from ._demand import Demand
from ._door import LoopDoor, spawn
from ._encoder import VIDEO_FORMATS, Encoded, Failure, Look, Process, Settings
from ._encodes import EncodeCache, adapts
from ._h264 import VIDEO_UP_AFTER, VideoCache
from ._origin import OriginPolicy
from ._pacing import ANY_CAPTURE, CaptureWindow
from ._protocol import CLOSE_GOING_AWAY, CameraClaim, CameraError, CameraFrame, Pointer, stats_message
from ._quality import IMAGE_UP_AFTER
from ._slot import Frame, LatestFrame
from ._stats import StreamStats
from ._status import Status
from ._viewer import Key, ViewerCore

#: ``listener(name, value)``: "stats" (the report) or "error" (the text shown, or None).
Listener = Callable[[str, Any], None]


class StreamClosed(Exception):
    """The stream was removed from its server (the widget closed) while something waited for a frame."""


class Attached(Protocol):
    """A viewer as the stream sees it: its rules, and how to reach it."""

    core: ViewerCore

    def send_text(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Stream:
    def __init__(
        self,
        slot: LatestFrame,
        look: Look,
        origins: OriginPolicy,
        *,
        state: str = "live",
        listener: Listener | None = None,
        on_pointer: Callable[[Pointer], None] | None = None,
        camera: CameraWish | None = None,
        deliver: Deliver | None = None,
    ) -> None:
        self.id = secrets.token_hex(8)
        self.token = secrets.token_urlsafe(24)
        self.slot = slot
        self.look = look
        self.origins = origins
        self.status = Status(state)
        self.cache = EncodeCache(slot, self._encode_done, lambda: self.look, self._eligible)
        #: H.264 chains for viewers that get video (format "h264" or "auto"); shares the image renderer.
        self.video = VideoCache(slot, self.cache.encoder, self._encode_done)
        #: The newest encode of either kind (image or video): what the report's encode numbers describe.
        self._last_encoded: Encoded | None = None
        self.stats = StreamStats()
        self.viewers: set[Attached] = set()
        self._listener = listener
        self._on_pointer = on_pointer
        self._waiters = 0
        self._changed: asyncio.Event | None = None
        self._door: LoopDoor | None = None
        self._detached = False
        #: Who wants frames from the source (None: frames are pushed, nothing to wake).
        self.demand: Demand | None = None
        #: Frames up to this seq were captured before the source woke from idle: stale for a new viewer.
        self._stale_through = 0
        #: The viewer's own camera, when that is the source (frames come from one view; see _camera.py).
        self.camera: BrowserCamera | None = None
        if camera is not None:
            assert deliver is not None, "a browser camera needs somewhere to deliver its frames"
            self.camera = BrowserCamera(camera, deliver, self.set_error, lambda: list(self.viewers))
        self._executor: concurrent.futures.Executor | None = None
        #: Where the kernel handled the last comm request: "subshell" (a subshell's thread: the comm keeps
        #: streaming while a cell runs) or "main thread" (only between cells); None before any. Seen, not
        #: assumed: it depends on the kernel (subshells since ipykernel 7) and on the frontend's settings.
        #: Written by the kernel's handling thread, read by the loop: a str swapped whole.
        self.comm_requests_on: str | None = None
        slot.on_put = self.notify

    # -- any thread ---------------------------------------------------------------------------------------
    def notify(self, seq: int) -> None:
        """The producer's poke after every put: a no-op unless a viewer is waiting for a frame."""
        self.cache.frame_put()
        door = self._door
        if self._waiters and door is not None:
            door.nudge(self._signal)

    def _eligible(self, frame: Frame) -> bool:
        """Whether a view may get ``frame``: not when it was made before the source woke from idle and a
        fresh one is on its way. Read by the picker thread too (an int and a bool)."""
        demand = self.demand
        return not (frame.seq <= self._stale_through and demand is not None and demand.live)

    # -- loop thread only ---------------------------------------------------------------------------------
    def attach(
        self,
        door: LoopDoor,
        loop: asyncio.AbstractEventLoop,
        executor: concurrent.futures.Executor,
        now: float,
    ) -> None:
        self._door = door
        self._changed = asyncio.Event()
        self._executor = executor
        self.cache.attach(loop, executor, door.nudge)
        self.video.attach(loop, executor)
        self.stats.start(now, self.slot.count, self.cache.encodes)

    def detach(self) -> None:
        """Removed from the server: say so to every viewer and close them."""
        self._door = None
        self._detached = True
        self._signal()  # every wait_frame() ends with StreamClosed
        self.cache.close(StreamClosed())  # and every image ticket
        self.set_state("closed")
        for viewer in list(self.viewers):
            spawn(viewer.close(CLOSE_GOING_AWAY, "widget closed"))

    def _signal(self) -> None:
        event = self._changed
        self._changed = asyncio.Event()
        if event is not None:
            event.set()

    def restyle(self, settings: Settings | None = None, process: Process | bool | None = False) -> None:
        """A new look: the current frame is re-rendered and re-sent to everyone."""
        self.look = self.look.restyled(settings, process)
        self._signal()
        self.cache.look_changed()

    def set_max_fps(self, max_fps: float) -> None:
        self.look = dataclasses.replace(self.look, max_fps=max_fps)

    def set_state(self, state: str) -> None:
        if self.camera is not None:
            self.camera.paused = state != "live"
            self.camera.wake()
        if self.status.set_state(state):
            self.broadcast(self.status.message())

    def set_error(self, error: str | None) -> None:
        if self.status.set_error(error):
            self._announce_error()

    def set_handler_error(self, error: str | None) -> None:
        if self.status.set_handler_error(error):
            self._announce_error()

    def _announce_error(self) -> None:
        self.broadcast(self.status.message())
        if self._listener is not None:
            self._listener("error", self.status.shown_error)

    def pointer(self, event: Pointer) -> None:
        if self._on_pointer is not None:
            self._on_pointer(event)

    def broadcast(self, text: str) -> None:
        for viewer in list(self.viewers):
            viewer.send_text(text)

    def welcome(self, viewer: Attached) -> None:
        """A new viewer: it joins, and hears the state (and the error on show, if any)."""
        self.viewers.add(viewer)
        camera = self.camera
        viewer.send_text(viewer.core.hello(self.status.state, camera.wish.message() if camera else None))
        if camera is not None:
            camera.welcome(viewer)
        if self.status.shown_error is not None:
            viewer.send_text(self.status.message())

    def leave(self, viewer: Attached) -> None:
        self.viewers.discard(viewer)
        self.cache.forget(viewer)
        self.video.leave(viewer.core.seat)
        if self.camera is not None:
            self.camera.leave(viewer)

    async def camera_message(
        self, viewer: Attached, message: CameraClaim | CameraError | CameraFrame
    ) -> None:
        """A view's camera message (only a browser-camera stream's views may send them: ViewerCore)."""
        camera = self.camera
        if camera is None or self._detached:
            return
        if isinstance(message, CameraClaim):
            camera.claim(viewer, message.auto)
        elif isinstance(message, CameraError):
            camera.refused(viewer, message.name, message.message)
        elif self._executor is not None:
            await camera.frame(viewer, message, self._executor)

    def _newer(self, after: Key) -> Frame | None:
        """The slot's frame when a view that has ``after`` may get it."""
        frame = self.slot.peek()
        if frame is None or (frame.seq, self.look.rev) <= after or not self._eligible(frame):
            return None
        return frame

    def _newest(self, after: Key, window: CaptureWindow) -> Frame | None:
        frame = self._newer(after)
        return frame if frame is not None and window.admits(frame.t_capture, self.slot.clock()) else None

    def _held_for(self, after: Key, window: CaptureWindow) -> float | None:
        """Seconds until ``window`` lets in the newest frame, when that is all that holds it back (it opens by
        itself at ``until``: CaptureWindow); None when there is no newer frame: then only a put helps."""
        if self._newer(after) is None or window.until == math.inf:
            return None
        return max(0.0, window.until - self.slot.clock())

    async def wait_frame(self, after: Key, window: CaptureWindow = ANY_CAPTURE) -> Frame:
        """The newest frame newer than ``after`` (and captured within ``window``, a capped viewer's), waiting
        for one if needed; StreamClosed once detached.

        Every call is a frame request to the source's demand: while they keep coming the source is read,
        and the first request after an idle spell makes what the source captured before it stale."""
        assert self._changed is not None, "Stream.attach() first"
        demand = self.demand
        if demand is not None and demand.ask():
            self._stale_through = self.slot.count
        if self.camera is not None:
            self.camera.wake()
        try:
            frame = self._newest(after, window)
            while frame is None:
                if self._detached:
                    raise StreamClosed()
                event = self._changed
                self._waiters += 1  # announce before re-checking, so a put in between is never missed
                try:
                    frame = self._newest(after, window)
                    if frame is None:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(event.wait(), self._held_for(after, window))
                        frame = self._newest(after, window)
                finally:
                    self._waiters -= 1
            return frame
        finally:
            if demand is not None:
                demand.done()

    async def encoded(self, frame: Frame, level: int = 0) -> Encoded | Failure:
        return await self.cache.encoded(frame, self.look, level)

    def want_image(
        self, viewer: Attached, after: Key, window: CaptureWindow = ANY_CAPTURE
    ) -> asyncio.Future[Encoded | Failure] | None:
        """A grant of ``viewer``, when it gets images: a ticket for the first picture newer than ``after``,
        captured within ``window`` (``EncodeCache.want``). None when it gets video: then ``wait_frame`` and
        ``encoded_for``."""
        if self._detached:
            raise StreamClosed()
        level = self._image_level(viewer.core)
        if level is None:
            return None
        demand = self.demand
        if demand is not None and demand.ask():
            self._stale_through = self.slot.count
        if self.camera is not None:
            self.camera.wake()
        ticket = self.cache.want(viewer, level, after, window)
        if demand is not None:
            ticket.add_done_callback(lambda _: demand.done())
        return ticket

    def _image_level(self, core: ViewerCore) -> int | None:
        """The automatic-quality level of this viewer's next image; None when it gets video."""
        look = self.look
        level = core.quality.level if adapts(look, core.adaptive) else 0
        if look.settings.format in VIDEO_FORMATS and core.wants_video(look.settings.format):
            # A video viewer's every step costs a keyframe (~200 KB of noisy 720p): it climbs back only after
            # a long spell with room to spare, or a viewer just able to carry the top step would flap between
            # the two, paying a keyframe each way.
            core.quality.up_after = VIDEO_UP_AFTER
            return None
        if core.seat.chain is not None:  # was on video: images now, and its next video frame needs a key
            self.video.leave(core.seat)
            core.seat.need_key = True
            core.quality.up_after = IMAGE_UP_AFTER
        return level

    async def encoded_for(self, core: ViewerCore, frame: Frame) -> Encoded | Failure:
        """``frame`` as this viewer gets it: video on its encoder chain, or an image from the shared cache,
        at its automatic-quality level where that applies. Decides before its first await (see
        ``VideoCache.encoded``)."""
        look = self.look
        level = self._image_level(core)
        if level is None:
            return await self.video.encoded(core.seat, frame, look, core.quality.level, core.video_chroma)
        return await self.cache.encoded(frame, look, level)

    async def next_encoded(self, after: Key, window: CaptureWindow = ANY_CAPTURE) -> Encoded | Failure:
        """The newest frame newer than ``after`` (captured within ``window``), encoded once for every viewer
        that asks for it."""
        return await self.encoded(await self.wait_frame(after, window))

    def _encode_done(self, result: Encoded | Failure) -> None:
        if isinstance(result, Encoded):
            self._last_encoded = result
        if isinstance(result, Failure):
            self.set_error(result.message)
        elif self.status.error is not None:
            self.set_error(None)

    def tick(self, now: float) -> dict[str, Any] | None:
        """Once a second: the report, automatic quality's step per viewer, each viewer's overlay numbers.
        None (and nothing done) when nobody listens and nobody watches."""
        if self._listener is None and not self.viewers:
            return None
        viewers = list(self.viewers)
        report = self.stats.report(
            now,
            status=self.status,
            frames=self.slot.count,
            dropped=self.slot.dropped,
            encodes=self.cache.encodes + self.video.encodes,
            last=self._last_encoded,
            viewers=[viewer.core for viewer in viewers],
        )
        if self.comm_requests_on is not None:
            report["comm_requests_on"] = self.comm_requests_on
        report["format"] = self.look.settings.format
        last_video = self.video.last
        if last_video is not None or self.look.settings.format in VIDEO_FORMATS:
            report["video"] = {
                "encodes": self.video.encodes,
                "encode_ms": round(last_video.encode_ms, 2) if last_video else None,
                "bytes_per_frame": len(last_video.data) if last_video else None,
                "chains": len(self.video.book.chains),
            }
        if self.camera is not None:
            self.camera.wake()  # a recording or keep_running may want frames with no view asking
            report["camera"] = self.camera.stats()
        look = self.look
        for viewer in viewers:
            if adapts(look, viewer.core.adaptive):
                viewer.core.adapt(now, self.stats.fps_source, look.max_fps)
            if look.settings.format == "auto":
                viewer.core.video_if_slow()
        for viewer in viewers:
            # Each viewer gets the stream's numbers and its own: an overlay that needs no kernel main thread.
            viewer.send_text(stats_message(report, viewer.core.stats(now)))
        if self._listener is not None:
            self._listener("stats", report)
        return report
