"""The stream server: one WebSocket listener per kernel (and host:port), on a thread with its own loop.

The loop owns every stream and viewer attached to it; other threads reach them only through ``door``
(``_door.LoopDoor``: ``call``, ``post``, ``run``). The handshake rules are ``_access``'s, the per-viewer
rules ``_viewer``'s, the drivers ``_drivers``'s; this module listens, routes and ticks the stats. The HTTP
viewers (MJPEG, snapshot, page) get a stream lookup and the door, not this object.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from types import MappingProxyType

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import MultipleValuesError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from . import _access
from ._door import LoopDoor, LoopGone, cancel_all
from ._drivers import WebSocketViewer
from ._http import HttpViewers
from ._logs import redacting_logger
from ._protocol import CLOSE_GOING_AWAY, MAX_CLIENT_MESSAGE
from ._stream import Stream
from ._threads import Worker
from ._viewer import Limits

log = redacting_logger("livecam_widget.server")

TRANSPORTS = ("auto", "websocket", "proxy", "comm")


class FrameServer(Worker):
    """A WebSocket server in a background thread; ``_registry.acquire_server`` shares one per host:port."""

    name = "livecam-server"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        stats_interval: float = 1.0,
        encode_workers: int = 2,
    ) -> None:
        super().__init__()
        self.host = host
        self.requested_port = port
        self.port = 0
        self.limits = limits or Limits()
        self.clock = clock
        self.wall = wall
        self.stats_interval = stats_interval
        self.door = LoopDoor()
        #: Widgets using this server (``_registry`` counts them; the last one out stops it).
        self.refs = 0
        #: The stream table: written on the loop only, as a new dict swapped whole, so any thread may read it.
        self._streams: Mapping[str, Stream] = MappingProxyType({})
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._http: HttpViewers | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            encode_workers, thread_name_prefix="livecam-encode"
        )

    # -- lifecycle (any thread) ---------------------------------------------------------------------------
    def start(self) -> None:
        super().start()
        if not self._ready.wait(10.0):
            raise TimeoutError("the livecam stream server did not start within 10 s")
        if self._startup_error is not None:
            error = self._startup_error
            raise OSError(f"could not listen on {self.host}:{self.requested_port}: {error}") from error

    def stop(self, timeout: float = 5.0) -> bool:
        stopping = self._stopping
        if stopping is not None:
            self.door.post(stopping.set)
        with self._guard:
            http, self._http = self._http, None
        if http is not None:
            http.stop(timeout)
        ended = super().stop(timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)
        return ended

    def stream(self, stream_id: str) -> Stream | None:
        """The stream with this id, or None; any thread."""
        return self._streams.get(stream_id)

    def http(self, port: int = 0) -> HttpViewers:
        """The HTTP listener (MJPEG, snapshot, page), started on first use on the same host."""
        with self._guard:
            if self._http is None:
                self._http = HttpViewers(
                    self.stream,
                    self.door,
                    self.host,
                    port,
                    ws_port=self.port,
                    limits=self.limits,
                    clock=self.clock,
                )
                self._http.start()
            return self._http

    def add(self, stream: Stream) -> None:
        def attach() -> None:
            stream.attach(self.door, asyncio.get_running_loop(), self._executor, self.clock())
            self._streams = MappingProxyType({**self._streams, stream.id: stream})

        self.door.call(attach)

    def remove(self, stream: Stream, wait: bool = True) -> None:
        def detach() -> None:
            self._streams = MappingProxyType({k: v for k, v in self._streams.items() if k != stream.id})
            stream.detach()

        if not wait:
            self.door.post(detach)
            return
        with contextlib.suppress(LoopGone, TimeoutError):
            self.door.call(detach)

    # -- loop thread --------------------------------------------------------------------------------------
    def _loop(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        finally:
            self.door.shut()
            with contextlib.suppress(Exception):
                cancel_all(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        self.door.open(asyncio.get_running_loop())
        try:
            server: Server = await serve(
                self._handle,
                self.host,
                self.requested_port,
                process_request=self._check_request,
                select_subprotocol=_select_subprotocol,
                max_size=MAX_CLIENT_MESSAGE,
                max_queue=16,
                write_limit=self.limits.write_limit,
                compression=None,  # JPEG/PNG do not deflate; compressing would only burn CPU
                close_timeout=2,
                logger=log,
            )
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        ticker = asyncio.create_task(self._stats_loop())
        try:
            await self._stopping.wait()
        finally:
            self.door.shut()  # from here on, other threads hear LoopGone instead of waiting in vain
            for stream in self._streams.values():
                stream.cache.close(LoopGone())  # its picker thread ends; a widget closing later finds it so
            ticker.cancel()
            server.close(close_connections=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 3.0)

    def _stream_for(self, path: str) -> Stream | None:
        route = _access.stream_route(path)
        return self._streams.get(route[0]) if route is not None and not route[1] else None

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        stream = self._stream_for(request.path)
        if stream is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "no such stream\n")
        offered = _access.offered_token(request.path, request.headers.get_all("Sec-WebSocket-Protocol"))
        if not _access.token_matches(offered, stream.token):
            return connection.respond(HTTPStatus.FORBIDDEN, "missing or wrong token\n")
        try:
            origin = request.headers.get("Origin")
        except MultipleValuesError:
            return connection.respond(HTTPStatus.FORBIDDEN, "more than one Origin header\n")
        http = self._http
        if not _access.origin_allowed(
            stream.origins,
            origin,
            request.headers.get("Host", ""),
            http.port if http is not None else None,
            self.port,
        ):
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if len(stream.viewers) >= self.limits.max_clients:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many viewers for this widget\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        stream = self._stream_for(ws.request.path) if ws.request else None
        if stream is None:  # closed between handshake and here
            await ws.close(CLOSE_GOING_AWAY, "widget closed")
            return
        await WebSocketViewer(ws, stream, self.limits, self.clock, self.wall).run()

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval)
            now = self.clock()
            for stream in self._streams.values():
                try:
                    stream.tick(now)
                except Exception:
                    log.exception("livecam stats tick failed")


def _select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    chosen = _access.chosen_subprotocol(offered)
    return Subprotocol(chosen) if chosen is not None else None
