"""The loop-side viewer drivers: a WebSocket viewer and a comm-channel viewer over one ``ViewerCore``.

A driver does I/O and waiting only: it feeds each client message to the core and acts on the decision
(close, hand a pointer event on, wake the sender), and its sender serves grants as the core says: wait out
the pacing delay, get the next picture newer than the last one this view got (encoded once for all viewers,
by the stream's cache), send it. The rules themselves are in ``_viewer.py``.

The sender is ``PIPELINE`` lanes, one per grant the viewer may hold. A lane serves one grant at a time: an
image grant becomes a ticket with the stream's encode cache, whose picker thread encodes the frame as soon as
it comes (``_encodes.py``); a video grant picks the frame here and has it encoded on the view's chain. A
viewer holding several grants has several tickets waiting, so the picker goes on to the next frame while
this one is sent. Lanes take grants one at a time (so pacing sees every grant in order) and send in that
order. A viewer with one grant (the browser view, most of the time) uses one lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ._camera import MAX_UPLOAD
from ._door import spawn
from ._encoder import Encoded, Failure
from ._protocol import CLOSE_GOING_AWAY, CLOSE_INTERNAL, Pointer, pack_frame
from ._slot import Frame
from ._stream import Stream, StreamClosed
from ._viewer import NOTHING_SENT, Close, Granted, Key, Limits, Noted, ViewerCore

log = logging.getLogger("livecam_widget.server")
#: How a comm viewer's messages reach its view: (content, buffers), through the widget's comm.
CommSend = Callable[[dict[str, Any], list[bytes]], None]
#: Grants one viewer may have served at once (waiting for a picture, encoding or sending): as many as it
#: may hold (``Limits.max_outstanding``); see the module.
PIPELINE = 4


class LoopViewer:
    """One view of a stream served from the server's loop; subclasses say how bytes travel."""

    def __init__(
        self, stream: Stream, limits: Limits, clock: Callable[[], float], wall: Callable[[], float]
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.wall = wall
        self.core = ViewerCore(limits, clock(), max_upload=MAX_UPLOAD if stream.camera is not None else 0)
        self._granted = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        #: Grants a lane has taken and not yet served (sent, or failed).
        self._claimed = 0
        #: The newest frame a lane picked: the next pick must be newer.
        self._picked: Key = NOTHING_SENT
        #: One lane picks at a time.
        self._pick_lock = asyncio.Lock()
        #: Done when the lane that picked last has sent (or given up): the next lane sends after it.
        self._last_send: asyncio.Future[None] | None = None

    # -- how bytes travel (subclasses) --------------------------------------------------------------------
    async def send_frame(self, header: dict[str, Any], data: bytes) -> None:
        raise NotImplementedError

    def send_text(self, text: str) -> None:
        raise NotImplementedError

    async def close(self, code: int, reason: str) -> None:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------------------
    def begin(self) -> None:
        self.stream.welcome(self)
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    async def end(self) -> None:
        self.stream.leave(self)
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender

    async def handle(self, message: str | bytes) -> bool:
        """Take one client message; False when the client broke a rule and was closed."""
        decision = self.core.receive(message, self.clock(), self.wall())
        if isinstance(decision, Close):
            await self.close(decision.code, decision.reason)
            return False
        if isinstance(decision, Pointer):
            self.stream.pointer(decision)
        elif isinstance(decision, Granted):
            self._granted.set()
        elif isinstance(decision, Noted):
            pass  # the core took it (a video offer); the next encode follows it
        else:
            await self.stream.camera_message(self, decision)
        return True

    async def _send_loop(self) -> None:
        try:
            await self._serve_grants()
        except (asyncio.CancelledError, ConnectionClosed):
            raise
        except StreamClosed:
            pass  # the widget closed; its close (1001) is on its way to the client
        except RuntimeError:  # the encode pool is gone: the server (or the interpreter) is shutting down
            await self.close(CLOSE_GOING_AWAY, "server shutting down")
        except Exception:
            log.exception("livecam viewer failed")
            await self.close(CLOSE_INTERNAL, "internal error")

    async def _serve_grants(self) -> None:
        lanes = [asyncio.get_running_loop().create_task(self._lane()) for _ in range(PIPELINE)]
        try:
            done, _ = await asyncio.wait(lanes, return_when=asyncio.FIRST_EXCEPTION)
            for lane in done:
                lane.result()  # a lane only ends by raising: raise it here, for _send_loop to judge
        finally:
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)

    async def _lane(self) -> None:
        core, stream = self.core, self.stream
        loop = asyncio.get_running_loop()
        while True:
            async with self._pick_lock:
                while core.outstanding <= self._claimed:  # every grant is being served by a lane
                    self._granted.clear()
                    await self._granted.wait()
                self._claimed += 1
                sent = loop.create_future()
                frame: Frame | None = None
                try:
                    window = core.window(stream.look.max_fps)
                    # An image comes on a ticket the encode cache's picker answers; video is picked here.
                    ticket = stream.want_image(self, self._picked, window)
                    if ticket is None:
                        frame = await stream.wait_frame(self._picked, window)
                        self._picked = max(self._picked, (frame.seq, stream.look.rev))
                        core.picked(frame.t_capture)
                    elif core.capped(stream.look.max_fps):
                        # Under a cap, one ticket at a time: the next one's window starts from this one's
                        # frame (two tickets waiting through a stalled source would get two frames in a row).
                        answer = await ticket
                        if isinstance(answer, Encoded):
                            core.picked(answer.t_capture)
                except BaseException:
                    self._claimed -= 1
                    raise
                before, self._last_send = self._last_send, sent
            served = False
            try:
                if ticket is not None:
                    result = await ticket
                else:
                    assert frame is not None
                    result = await stream.encoded_for(core, frame)
                self._picked = max(self._picked, (result.seq, result.rev))
                if before is not None:
                    await before  # sends go out in the order the lanes took their grants
                served = True
                self._claimed -= 1
                if isinstance(result, Failure):
                    core.failed((result.seq, result.rev))  # the stream shows the error; wait for a newer one
                    self._granted.set()  # the grant is still there: whichever lane waits for one takes it
                    continue
                core.sent(result, self.clock())
                await self.send_frame(result.header(self.wall()), result.data)
            finally:
                if not served:
                    self._claimed -= 1
                    self._granted.set()
                if not sent.done():
                    sent.set_result(None)


class WebSocketViewer(LoopViewer):
    def __init__(self, ws: ServerConnection, *args: Any) -> None:
        super().__init__(*args)
        self.ws = ws
        if self.core.max_upload:
            # Camera frames are larger than the server's limit for client messages (a few KiB): raised
            # for this connection only, after its handshake, to what a camera frame may be. websockets
            # keeps the limit on the sans-I/O protocol object (max_message_size since 15, max_size before);
            # test_camera.py sends a frame far over the server-wide limit, so a rename cannot go unseen.
            name = "max_message_size" if hasattr(ws.protocol, "max_message_size") else "max_size"
            setattr(ws.protocol, name, self.core.max_upload)

    async def send_frame(self, header: dict[str, Any], data: bytes) -> None:
        await self.ws.send(pack_frame(header, data))

    def send_text(self, text: str) -> None:
        async def send() -> None:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(text)

        spawn(send())

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)

    async def run(self) -> None:
        self.begin()
        try:
            async for message in self.ws:
                if not await self.handle(message):
                    return
        except ConnectionClosed:
            pass
        finally:
            await self.end()


class CommViewer(LoopViewer):
    """A view served over the widget's own comm channel (anywidget custom messages with binary buffers).

    Frames leave from the server thread at once, but grants from the browser reach the kernel only when
    its main thread is idle; see docs/transports.md for what a busy cell does to this transport.
    """

    def __init__(self, view: str, send: CommSend, *args: Any) -> None:
        super().__init__(*args)
        # Each comm frame crosses the Jupyter server twice (and VS Code sends its bytes to the page as a JSON
        # array, 3.5 times as long): a view that cannot keep up steps below the widget's quality by itself.
        self.core.adaptive = True
        self.view = view
        self._send = send

    async def send_frame(self, header: dict[str, Any], data: bytes) -> None:
        self._send({"livecam": "frame", "view": self.view, "header": header}, [data])

    def send_text(self, text: str) -> None:
        self._send({"livecam": "text", "view": self.view, "text": text}, [])

    async def close(self, code: int, reason: str) -> None:
        self._send({"livecam": "close", "view": self.view, "code": code, "reason": reason}, [])
        await self.end()


class CommRouter:
    """The comm viewers of one stream, by view id; loop-owned, fed through the server's door."""

    def __init__(
        self,
        stream: Stream,
        send: CommSend,
        limits: Limits,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.stream = stream
        self._send = send
        self._limits = limits
        self._clock = clock
        self._wall = wall
        self._views: dict[str, CommViewer] = {}

    def message(self, view: str, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        """A message from a view using the comm transport: open, a protocol message, or close."""
        kind = content.get("livecam")
        viewer = self._views.get(view)
        buffers = buffers or []
        if kind == "open" and viewer is None and self.stream.status.state != "closed":
            viewer = CommViewer(view, self._send, self.stream, self._limits, self._clock, self._wall)
            self._views[view] = viewer
            viewer.begin()
        elif kind == "message" and viewer is not None:
            text = content.get("text")
            spawn(viewer.handle(text if isinstance(text, str) else b""))
        elif kind == "binary" and viewer is not None:  # a camera frame: header and image in one buffer
            spawn(viewer.handle(buffers[0] if len(buffers) == 1 else b""))
        elif kind == "close" and viewer is not None:
            del self._views[view]
            spawn(viewer.end())
