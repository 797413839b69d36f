"""The stream server: one WebSocket server per kernel (and host:port), in a thread with its own asyncio loop.

Threads meet the loop in exactly two ways: ``FrameServer.call`` (every mutation of stream state, via
``loop.call_soon_threadsafe``) and ``Stream.notify`` (the producer's "new frame" poke, also
``call_soon_threadsafe``, sent only while some client waits). Everything a ``Stream`` or ``_Client`` holds
is touched only on the loop thread, so it needs no locks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hmac
import ipaddress
import secrets
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import MultipleValuesError
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ._encoder import Encoded, Encoder, Failure, Process, Settings
from ._http import HttpViewers
from ._logs import redacting_logger
from ._origin import OriginPolicy
from ._pacing import Pacer, RateMeter, TokenBucket
from ._protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    MAX_CLIENT_MESSAGE,
    PATH_PREFIX,
    SUBPROTOCOL,
    TOKEN_SUBPROTOCOL,
    Painted,
    Pointer,
    ProtocolError,
    hello,
    pack_frame,
    parse_client_message,
    stats_message,
    status,
)
from ._quality import QualityController, settings_at
from ._slot import Frame, LatestFrame
from ._threads import Worker

log = redacting_logger("livecam_widget.server")
T = TypeVar("T")
Key = tuple[int, int]
#: An encode: (seq, rev) and the automatic-quality level it was made for (always 0 without "auto").
EncodeKey = tuple[int, int, int]


TRANSPORTS = ("auto", "websocket", "proxy", "comm")
_background: set[asyncio.Task[Any]] = set()


def _spawn(coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` on the current loop, keeping a reference so the task is not collected mid-flight."""
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


@dataclass(frozen=True)
class Limits:
    """What one client may do. Past a limit the client is closed with 1008; others are unaffected."""

    max_outstanding: int = 4
    max_messages_per_s: float = 1000.0
    max_clients: int = 64
    #: Bytes the server buffers for one client before ``send`` waits; a stalled client holds at most this
    #: plus its granted frames.
    write_limit: int = 256 * 1024


class Stream:
    """One widget, as the server sees it. Build it anywhere; after ``FrameServer.add`` it is loop-owned."""

    def __init__(
        self,
        slot: LatestFrame,
        *,
        settings: Settings,
        process: Process | None,
        max_fps: float,
        origins: OriginPolicy,
        on_stats: Callable[[dict[str, Any]], None] | None = None,
        on_error: Callable[[str | None], None] | None = None,
        on_pointer: Callable[[Pointer], None] | None = None,
        state: str = "live",
    ) -> None:
        self.id = secrets.token_hex(8)
        self.token = secrets.token_urlsafe(24)
        self.slot = slot
        self.encoder = Encoder()
        self.settings = settings
        self.process = process
        self.max_fps = max_fps
        self.origins = origins
        self.on_stats = on_stats
        self.on_error = on_error
        self.on_pointer = on_pointer
        self.rev = 0
        self.state = state
        self.error: str | None = None
        #: The last on_click/on_drag handler failure; unlike ``error``, new frames do not clear it.
        self.handler_error: str | None = None
        self.clients: set[_Viewer] = set()
        self.comm_views: dict[str, CommViewer] = {}
        self.encodes = 0
        self.last_encoded: Encoded | None = None
        #: The newest encode per quality level: viewers on one level share it.
        self._cache: dict[int, Encoded | Failure] = {}
        self._inflight: dict[EncodeKey, asyncio.Future[Encoded | Failure]] = {}
        #: Frames per second entering the slot, as of the last stats tick (automatic quality's ceiling).
        self.fps_source = 0.0
        self._waiters = 0
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: concurrent.futures.Executor | None = None
        self._stats_prev: tuple[float, int, int] | None = None
        slot.on_put = self.notify

    # -- called on other threads -------------------------------------------------------------------------
    def notify(self, seq: int) -> None:
        """The producer's poke: cheap, and a no-op unless a client is waiting for a frame."""
        loop = self._loop
        if self._waiters and loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed: the stream is going away
                loop.call_soon_threadsafe(self._signal)

    # -- loop thread only -------------------------------------------------------------------------------
    def attach(
        self, loop: asyncio.AbstractEventLoop, executor: concurrent.futures.Executor, now: float
    ) -> None:
        self._loop = loop
        self._executor = executor
        self._changed = asyncio.Event()
        self._stats_prev = (now, self.slot.count, self.encodes)  # so the first report has real rates

    def _signal(self) -> None:
        event = self._changed
        self._changed = asyncio.Event()
        if event is not None:
            event.set()

    def restyle(self, settings: Settings | None = None, process: Process | bool | None = False) -> None:
        """New look: bump ``rev`` so the current frame is re-rendered and re-sent to everyone."""
        if settings is not None:
            self.settings = settings
        if process is not False:
            self.process = process  # type: ignore[assignment]
        self.rev += 1
        self._signal()

    @property
    def shown_error(self) -> str | None:
        """What views and ``lf.error`` show: the source/process error, else a handler's."""
        return self.error or self.handler_error

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._broadcast(status(state, self.shown_error))

    def set_error(self, error: str | None) -> None:
        before = self.shown_error
        self.error = error
        self._announce(before)

    def set_handler_error(self, error: str | None) -> None:
        before = self.shown_error
        self.handler_error = error
        self._announce(before)

    def _announce(self, before: str | None) -> None:
        shown = self.shown_error
        if shown != before:
            self._broadcast(status(self.state, shown))
            if self.on_error is not None:
                self.on_error(shown)

    def pointer(self, event: Pointer) -> None:
        if self.on_pointer is not None:
            self.on_pointer(event)

    def comm_message(
        self,
        view: str,
        content: dict[str, Any],
        send: Callable[[dict[str, Any], list[bytes]], None],
        limits: Limits,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        """A message from a view using the comm transport: open, a protocol message, or close."""
        kind = content.get("livecam")
        viewer = self.comm_views.get(view)
        if kind == "open" and viewer is None and self.state != "closed":
            viewer = self.comm_views[view] = CommViewer(view, send, self, limits, clock, wall)
            viewer.begin()
        elif kind == "message" and viewer is not None:
            text = content.get("text")
            _spawn(viewer.handle(text if isinstance(text, str) else b""))
        elif kind == "close" and viewer is not None:
            del self.comm_views[view]
            _spawn(viewer.end())

    def _broadcast(self, text: str) -> None:
        for client in list(self.clients):
            client.send_text(text)

    def _newest(self, after: Key) -> Frame | None:
        frame = self.slot.peek()
        if frame is not None and (frame.seq, self.rev) > after:
            return frame
        return None

    async def next_encoded(self, after: Key) -> Encoded | Failure:
        """The newest frame newer than ``after``, encoded once for every client that asks for it."""
        return await self.encoded(await self.wait_frame(after))

    async def wait_frame(self, after: Key) -> Frame:
        """The newest frame newer than ``after``, waiting for one if needed."""
        assert self._changed is not None
        frame = self._newest(after)
        while frame is None:
            event = self._changed
            self._waiters += 1  # announce before re-checking, so a put in between is never missed
            try:
                frame = self._newest(after)
                if frame is None:
                    await event.wait()
                    frame = self._newest(after)
            finally:
                self._waiters -= 1
        return frame

    def settings_for(self, level: int) -> Settings:
        """The look at an automatic-quality level; without quality="auto" every level is the same."""
        if not self.settings.auto_quality:
            return self.settings
        return settings_at(self.settings, level)

    async def encoded(self, frame: Frame, level: int = 0) -> Encoded | Failure:
        """``frame`` processed and encoded with the current look, once per level whoever asks."""
        assert self._loop is not None
        if not self.settings.auto_quality:
            level = 0  # one encode for everyone, whatever level a viewer was left at
        key = (frame.seq, self.rev, level)
        cached = self._cache.get(level)
        if cached is not None and (cached.seq, cached.rev) == key[:2]:
            return cached
        future = self._inflight.get(key)
        if future is None:
            self.slot.take(frame.seq)
            future = self._loop.run_in_executor(
                self._executor,
                self.encoder.encode,
                frame,
                self.rev,
                self.settings_for(level),
                self.process,
            )
            self._inflight[key] = future
            future.add_done_callback(functools.partial(self._encoded, key))
        # shield: one client giving up must not cancel the encode the others wait for.
        return await asyncio.shield(future)

    def _encoded(self, key: EncodeKey, future: asyncio.Future[Encoded | Failure]) -> None:
        self._inflight.pop(key, None)
        if future.cancelled() or future.exception() is not None:
            return
        result = future.result()
        level = key[2]
        cached = self._cache.get(level)
        if cached is None or (cached.seq, cached.rev) <= key[:2]:
            self._cache[level] = result
        if isinstance(result, Failure):
            self.set_error(result.message)
        else:
            self.encodes += 1
            self.last_encoded = result
            if self.error is not None:
                self.set_error(None)

    def stats(self, now: float) -> dict[str, Any]:
        frames, encodes = self.slot.count, self.encodes
        prev = self._stats_prev
        self._stats_prev = (now, frames, encodes)
        dt = now - prev[0] if prev else 0.0
        fps_source = (frames - prev[1]) / dt if prev and dt > 0 else 0.0
        self.fps_source = fps_source
        encodes_per_s = (encodes - prev[2]) / dt if prev and dt > 0 else 0.0
        viewers = [client.stats(now) for client in self.clients]
        latencies = [lat for client in self.clients for lat in client.recent_latencies(now)]
        last = self.last_encoded
        return {
            "state": self.state,
            "error": self.shown_error,
            "frames": frames,
            "fps_source": round(fps_source, 2),
            "fps_sent": round(sum(v["fps_sent"] for v in viewers), 2),
            "fps_painted": round(sum(v["fps_painted"] for v in viewers), 2),
            "latency_ms": round(statistics.median(latencies), 1) if latencies else None,
            "dropped": self.slot.dropped,
            "clients": len(viewers),
            "encodes_per_s": round(encodes_per_s, 2),
            "encode_ms": round(last.encode_ms, 2) if last else None,
            "bytes_per_frame": len(last.data) if last else None,
            "frame_size": [last.width, last.height] if last else None,
            "viewers": viewers,
        }

    def adapt(self, now: float) -> None:
        """Automatic quality: move each viewer on the ladder by what it achieved (once a second)."""
        if self.settings.auto_quality:
            for client in list(self.clients):
                client.adapt(now, self.fps_source)

    def send_stats(self, report: dict[str, Any], now: float) -> None:
        """Each viewer gets the stream's numbers and its own: an overlay that needs no kernel main thread."""
        for client in list(self.clients):
            client.send_text(stats_message(report, client.stats(now)))


class _Viewer:
    """One view of a stream, whatever carries it: grants in, one frame per grant out, paced on its own.

    Subclasses say how bytes travel (a WebSocket, or the widget's comm channel); the pacing, the grant
    accounting, the limits and the stats are all here, once.
    """

    def __init__(
        self,
        stream: Stream,
        limits: Limits,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.stream = stream
        self.limits = limits
        self.clock = clock
        self.wall = wall
        self.outstanding = 0
        self.granted = asyncio.Event()
        self.pacer = Pacer(stream.max_fps)
        self.sent = RateMeter()
        self.painted = RateMeter()
        self.bucket = TokenBucket(limits.max_messages_per_s, limits.max_messages_per_s, clock())
        self.last_key: Key = (0, -1)
        #: Grants received; a paused view must leave this flat.
        self.requests = 0
        self.last_request = -1e9
        self.quality = QualityController()
        #: Send -> paint report, per frame: how much of the frame interval one frame's trip takes.
        self._sent_at: dict[Key, float] = {}
        self._trips: deque[float] = deque(maxlen=16)
        self._t_capture: dict[Key, float] = {}
        self._latencies: deque[tuple[float, float]] = deque(maxlen=256)
        self._sender: asyncio.Task[None] | None = None

    # -- how bytes travel (subclasses) ---------------------------------------------------------------------
    async def send_frame(self, header: dict[str, Any], data: bytes) -> None:
        raise NotImplementedError

    def send_text(self, text: str) -> None:
        raise NotImplementedError

    async def close(self, code: int, reason: str) -> None:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------------------
    def begin(self) -> None:
        self.stream.clients.add(self)
        self.send_text(hello(self.limits.max_outstanding, self.limits.max_messages_per_s, self.stream.state))
        if self.stream.shown_error is not None:
            self.send_text(status(self.stream.state, self.stream.shown_error))
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    async def end(self) -> None:
        self.stream.clients.discard(self)
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender

    async def handle(self, message: str | bytes) -> bool:
        """Take one client message; False when the client broke a rule and was closed."""
        if not self.bucket.allow(self.clock()):
            await self.close(CLOSE_POLICY, f"more than {self.limits.max_messages_per_s:g} messages/s")
            return False
        try:
            request = parse_client_message(message)
        except ProtocolError as exc:
            await self.close(exc.code, exc.reason)
            return False
        if isinstance(request, Pointer):
            self.stream.pointer(request)  # counted against the rate limit above; not a grant
            return True
        if request.painted is not None:
            self._record_paint(request.painted)
        if self.outstanding >= self.limits.max_outstanding:
            await self.close(CLOSE_POLICY, f"more than {self.limits.max_outstanding} outstanding requests")
            return False
        self.outstanding += 1
        self.requests += 1
        self.last_request = self.clock()
        self.granted.set()
        return True

    async def _send_loop(self) -> None:
        try:
            await self._serve_grants()
        except (asyncio.CancelledError, ConnectionClosed):
            raise
        except RuntimeError:  # the encode pool is gone: the server (or the interpreter) is shutting down
            await self.close(CLOSE_GOING_AWAY, "server shutting down")
        except Exception:
            log.exception("livecam viewer failed")
            await self.close(CLOSE_INTERNAL, "internal error")

    async def _serve_grants(self) -> None:
        stream = self.stream
        while True:
            while self.outstanding <= 0:
                self.granted.clear()
                await self.granted.wait()
            self.pacer.max_fps = stream.max_fps
            delay = self.pacer.delay(self.clock())
            if delay > 0:
                await asyncio.sleep(delay)
            frame = await stream.wait_frame(self.last_key)
            # Pace from here, not from the send: otherwise every encode would stretch the interval and a
            # viewer could never reach max_fps. Frames are still >= 1/max_fps apart, give or take the
            # difference between two encode times.
            self.pacer.sent(self.clock())
            result = await stream.encoded(frame, self.quality.level)
            self.last_key = (result.seq, result.rev)
            if isinstance(result, Failure):
                continue  # the stream broadcast the error; the grant waits for the next frame
            now = self.clock()
            self.outstanding -= 1
            self.sent.add(now)
            self._t_capture[self.last_key] = result.t_capture
            self._sent_at[self.last_key] = now
            if len(self._t_capture) > 2 * self.limits.max_outstanding + 2:
                del self._t_capture[next(iter(self._t_capture))]
            if len(self._sent_at) > 2 * self.limits.max_outstanding + 2:
                del self._sent_at[next(iter(self._sent_at))]
            await self.send_frame(result.header(self.wall()), result.data)

    def _record_paint(self, painted: Painted) -> None:
        now = self.clock()
        self.painted.add(now)
        sent_at = self._sent_at.pop((painted.seq, painted.rev), None)
        if sent_at is not None:
            self._trips.append(now - sent_at)
        t_capture = self._t_capture.pop((painted.seq, painted.rev), None)
        if t_capture is not None:
            self._latencies.append((now, (self.wall() - t_capture) * 1000.0))

    def adapt(self, now: float, fps_source: float) -> None:
        """One automatic-quality step; a view asking for nothing (hidden, paused) holds its level."""
        active = now - self.last_request < 1.0
        cap = self.stream.max_fps if self.stream.max_fps > 0 else fps_source
        target = min(cap, fps_source) if active else 0.0
        trip = statistics.median(self._trips) if self._trips else None
        self.quality.observe(now, self.painted.rate(now), target, trip)

    def recent_latencies(self, now: float) -> list[float]:
        return [lat for at, lat in self._latencies if at > now - 2.0]

    def stats(self, now: float) -> dict[str, Any]:
        latencies = self.recent_latencies(now)
        return {
            "fps_sent": round(self.sent.rate(now), 2),
            "fps_painted": round(self.painted.rate(now), 2),
            "latency_ms": round(statistics.median(latencies), 1) if latencies else None,
            "outstanding": self.outstanding,
            "requests": self.requests,
            "quality_level": self.quality.level,
        }


class _WebSocketViewer(_Viewer):
    def __init__(self, ws: ServerConnection, *args: Any) -> None:
        super().__init__(*args)
        self.ws = ws

    async def send_frame(self, header: dict[str, Any], data: bytes) -> None:
        await self.ws.send(pack_frame(header, data))

    def send_text(self, text: str) -> None:
        async def send() -> None:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(text)

        _spawn(send())

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


class CommViewer(_Viewer):
    """A view served over the widget's own comm channel (anywidget custom messages with binary buffers).

    Frames leave from the server thread at once, but grants from the browser reach the kernel only when
    its main thread is idle; see docs/transports.md for what a busy cell does to this transport.
    """

    def __init__(self, view: str, send: Callable[[dict[str, Any], list[bytes]], None], *args: Any) -> None:
        super().__init__(*args)
        self.view = view
        self._send = send

    async def send_frame(self, header: dict[str, Any], data: bytes) -> None:
        self._send({"livecam": "frame", "view": self.view, "header": header}, [data])

    def send_text(self, text: str) -> None:
        self._send({"livecam": "text", "view": self.view, "text": text}, [])

    async def close(self, code: int, reason: str) -> None:
        self._send({"livecam": "close", "view": self.view, "code": code, "reason": reason}, [])
        await self.end()


class FrameServer(Worker):
    """A WebSocket server in a background thread. Use :func:`acquire_server` rather than building one."""

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
        self.refs = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._streams: dict[str, Stream] = {}
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
        loop, stopping = self.loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        with self._guard:
            http, self._http = self._http, None
        if http is not None:
            http.stop(timeout)
        ended = super().stop(timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)
        return ended

    def call(self, fn: Callable[..., T], *args: Any, wait: bool = True, timeout: float = 5.0) -> T | None:
        """Run ``fn(*args)`` on the loop thread; with ``wait``, return its result.

        This is the one door from other threads into the loop."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return None
        if threading.current_thread() is self._thread:
            return fn(*args)
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:
                done.set_exception(exc)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:
            return None
        return done.result(timeout) if wait else None

    def stream(self, stream_id: str) -> Stream | None:
        return self._streams.get(stream_id)

    def http(self, port: int = 0) -> HttpViewers:
        """The HTTP listener (MJPEG, snapshot, page), started on first use on the same host."""
        with self._guard:
            if self._http is None:
                self._http = HttpViewers(self, self.host, port)
                self._http.start()
            return self._http

    def add(self, stream: Stream) -> None:
        def attach() -> None:
            assert self.loop is not None
            stream.attach(self.loop, self._executor, self.clock())
            self._streams[stream.id] = stream

        self.call(attach)

    def remove(self, stream: Stream, wait: bool = True) -> None:
        def detach() -> None:
            self._streams.pop(stream.id, None)
            stream.set_state("closed")
            for client in list(stream.clients):
                _spawn(client.close(CLOSE_GOING_AWAY, "widget closed"))

        with contextlib.suppress(concurrent.futures.TimeoutError):
            self.call(detach, wait=wait)

    # -- loop thread --------------------------------------------------------------------------------------
    def _loop(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
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
            ticker.cancel()
            server.close(close_connections=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 3.0)

    def _stream_for(self, path: str) -> Stream | None:
        route = path.partition("?")[0]
        if not route.startswith(PATH_PREFIX):
            return None
        return self._streams.get(route[len(PATH_PREFIX) :])

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        stream = self._stream_for(request.path)
        if stream is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "no such stream\n")
        if not hmac.compare_digest(_offered_token(request).encode(), stream.token.encode()):
            return connection.respond(HTTPStatus.FORBIDDEN, "missing or wrong token\n")
        try:
            origin = request.headers.get("Origin")
        except MultipleValuesError:
            return connection.respond(HTTPStatus.FORBIDDEN, "more than one Origin header\n")
        if not (stream.origins.allows(origin) or self._is_own_page(origin, request) or _via_proxy(request)):
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if len(stream.clients) >= self.limits.max_clients:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many viewers for this widget\n")
        return None

    def _is_own_page(self, origin: str | None, request: Request) -> bool:
        """A page served by our HTTP listener: same host as this request, the listener's port."""
        http = self._http
        if origin is None or http is None:
            return False
        page, host = urlsplit(origin), urlsplit("//" + request.headers.get("Host", ""))
        return page.hostname is not None and page.hostname == host.hostname and page.port == http.port

    async def _handle(self, ws: ServerConnection) -> None:
        stream = self._stream_for(ws.request.path) if ws.request else None
        if stream is None:  # closed between handshake and here
            await ws.close(CLOSE_GOING_AWAY, "widget closed")
            return
        await _WebSocketViewer(ws, stream, self.limits, self.clock, self.wall).run()

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval)
            now = self.clock()
            for stream in list(self._streams.values()):
                if stream.on_stats is None and not stream.clients:
                    continue
                try:
                    report = stream.stats(now)
                    stream.adapt(now)
                    stream.send_stats(report, now)
                    if stream.on_stats is not None:
                        stream.on_stats(report)
                except Exception:
                    log.exception("stats callback failed")


def _offered_token(request: Request) -> str:
    """The token, from a ``livecam.token.<T>`` subprotocol (what the frontend sends: it stays out of URLs
    and so out of proxy logs) or from the ``token`` query parameter (simplest for other clients)."""
    for value in request.headers.get_all("Sec-WebSocket-Protocol"):
        for offered in value.split(","):
            offered = offered.strip()
            if offered.startswith(TOKEN_SUBPROTOCOL):
                return offered[len(TOKEN_SUBPROTOCOL) :]
    return parse_qs(request.path.partition("?")[2]).get("token", [""])[0]


def _select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    # A browser that offered subprotocols needs one echoed back; clients that offered none get none.
    return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None


def _via_proxy(request: Request) -> bool:
    """Came through jupyter-server-proxy, which sets X-Forwarded-Context after Jupyter has checked the
    user's login and the page's origin; a web page cannot add such a header to a WebSocket."""
    return "X-Forwarded-Context" in request.headers or "X-ProxyContextPath" in request.headers


_servers: dict[tuple[str, int], FrameServer] = {}
_servers_lock = threading.Lock()


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def acquire_server(host: str = "127.0.0.1", port: int = 0) -> FrameServer:
    """The shared server for ``host:port`` (port 0: this kernel's default), started on first use."""
    with _servers_lock:
        server = _servers.get((host, port))
        if server is None or not server.running:
            if not _is_loopback_host(host):
                log.warning(
                    "livecam stream server listening on %s: reachable from other machines on that network "
                    "(every stream still needs its token)",
                    host or "all interfaces",
                )
            server = FrameServer(host, port)
            server.start()
            _servers[(host, port)] = server
        server.refs += 1
        return server


def release_server(server: FrameServer) -> None:
    """Drop one reference; the last one stops the server and frees its port."""
    with _servers_lock:
        server.refs -= 1
        if server.refs > 0:
            return
        for key, known in list(_servers.items()):
            if known is server:
                del _servers[key]
    server.stop()
