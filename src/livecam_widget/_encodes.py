"""The encode cache: each frame is encoded once per look, whoever and however many ask; and its picker.

Two ways in, one table of what is encoding:

- ``want(viewer, level, after)`` (loop): a view's grant, answered with the first picture newer than what
  that view already has. When the newest encode at its level is of the slot's newest picture (and newer than
  what the view has), that is the answer at once; otherwise the view gets a ticket, and the picker thread
  encodes the frame as soon as there is one. One encode answers one ticket of every view waiting at its
  level, and a view never gets a picture older than one it was given.
- ``encoded(frame, look, level)`` (loop): that frame encoded on the pool, for callers that hold a frame
  already (MJPEG readers, snapshots of the stream, a video view's image).

Why a picker thread. A view's request used to wait on the loop for the next frame: the producer woke the
door's waker, the waker the loop, the loop picked the frame and handed it to the encode pool, which handed
the result back. At 640x480 frames come every 0.7 ms, and a third of them were gone before those hand-offs
were done (docs/benchmarks.md, row 3). The picker waits on the cache's condition, which every put pokes
while a ticket waits; it takes the newest frame and encodes it on its own thread, and the loop hears only
the result. For a view that holds more grants it starts the next encode the moment the previous one ends,
while the loop sends: the encoder never waits for the loop. Views at other levels waiting for the same frame
get their encodes on the pool meanwhile. Nothing is encoded that no ticket waits for.

Threads: ``_lock`` (and its condition) guards what the loop, the picker and the pool threads share: the
tickets, the in-flight table, the newest picture published per level. The results (``_newest``, ``last``,
``encodes``) are loop-owned: the thread that finished an encode queues it and wakes the loop. When the
picker goes straight on to another encode, the door's waker does the waking: waking the loop is a system
call, and the picker would let go of the GIL for it and wait to get it back instead of encoding. Otherwise
it wakes the loop itself (``call_soon_threadsafe``), one hop sooner for the view waiting for this frame.

Measured on 2 CPUs (bench row 3, 640x480): one picker waking the loop that way 0.90 and 0.93 of the raw
encode rate; always through the waker 0.84-0.90 (six runs); always directly 0.77-0.91 (six runs); two
pickers encoding side by side 0.79 and 0.79 (directly), 0.74 and 0.75 (through the waker): the producer,
the loop and the client need the second CPU.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ._encoder import VIDEO_FORMATS, Encoded, Encoder, Failure, Look, Settings
from ._h264 import image_settings
from ._pacing import ANY_CAPTURE, CaptureWindow
from ._quality import capped_settings_at, settings_at
from ._slot import Frame, LatestFrame
from ._threads import Worker

#: An encode: (seq, rev) and the automatic-quality level it was made for (always 0 without "auto").
EncodeKey = tuple[int, int, int]
#: (seq, rev): a picture; a view wants one newer than the last it got.
Key = tuple[int, int]
Result = Encoded | Failure


def adapts(look: Look, adaptive_viewer: bool) -> bool:
    """Whether a viewer's automatic-quality level applies to what it gets: for every viewer under
    quality="auto" or a video format, and for a viewer that adapts by itself (the comm transport) unless the
    format is PNG (asked for lossless, so never made smaller behind the user's back)."""
    fmt = look.settings.format
    # A video format is the choice for a limited link: its viewers adapt (and format="auto" moves a viewer
    # to video when its level drops, ViewerCore.video_if_slow).
    return look.settings.auto_quality or fmt in VIDEO_FORMATS or (adaptive_viewer and fmt != "png")


def settings_for(look: Look, level: int) -> Settings:
    """The settings at an automatic-quality level: the ladder under quality="auto", else the ladder below
    the fixed quality (level 0 is the look's own settings). Images only: under a video format, JPEG."""
    settings = image_settings(look.settings)
    if settings.auto_quality:
        return settings_at(settings, level)
    return capped_settings_at(settings, level)


@dataclass
class Hunger:
    """One view's standing wants (under the cache's lock): the level it is served at, the newest picture
    it was given, and one ticket per grant waiting for a picture (oldest first)."""

    level: int
    through: Key
    tickets: deque[asyncio.Future[Result]] = field(default_factory=deque)
    #: The capture times its next picture may have (a capped view holds one ticket at a time).
    window: CaptureWindow = ANY_CAPTURE


class EncodeCache:
    def __init__(
        self,
        slot: LatestFrame,
        on_result: Callable[[Result], None],
        look: Callable[[], Look],
        eligible: Callable[[Frame], bool] = lambda frame: True,
    ) -> None:
        self.slot = slot
        self.encoder = Encoder()
        #: Successful encodes so far (a stat, and what tests count to prove "once per frame").
        self.encodes = 0
        self.last: Encoded | None = None
        self._on_result = on_result
        #: The stream's look (an immutable value the loop swaps whole) and which frames a view may get
        #: (not one captured before an idle source woke): both read by the picker thread too.
        self._look = look
        self._eligible = eligible
        #: The newest encode per quality level (loop-owned).
        self._newest: dict[int, Result] = {}
        # Reentrant: a pool thread may finish an encode before ``_start`` (under the lock) has added its
        # done-callback, and then the callback runs at once, on the thread that holds the lock.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        # -- under _lock --
        #: Encodes started and not yet published: what a second request for the same picture waits for.
        self._inflight: dict[EncodeKey, concurrent.futures.Future[Result]] = {}
        self._published: dict[int, Key] = {}
        self._hunger: dict[object, Hunger] = {}
        #: Tickets waiting, for the producer's cheap "anyone waiting?" check (read without the lock).
        self._waiting = 0
        #: When (capture clock) a view's window lets in the frame ``_next_encode`` last passed over for it.
        self._recheck_at = math.inf
        self._closed: BaseException | None = None
        self._picker = _Picker(self)
        self._started = False
        #: Finished encodes on their way to the loop (appended by the thread that finished them).
        self._finished_queue: deque[tuple[EncodeKey, float, concurrent.futures.Future[Result]]] = deque()
        self._nudge: Callable[[Callable[[], object]], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: concurrent.futures.Executor | None = None

    def attach(
        self,
        loop: asyncio.AbstractEventLoop,
        executor: concurrent.futures.Executor,
        nudge: Callable[[Callable[[], object]], None] | None = None,
    ) -> None:
        """Serve on ``loop``, encode on ``executor`` (and the picker); finished encodes reach the loop
        through ``nudge`` (the door's), else through ``call_soon_threadsafe``."""
        self._loop = loop
        self._executor = executor
        self._nudge = nudge
        with self._lock:
            self._closed = None

    # -- any thread ---------------------------------------------------------------------------------------
    def frame_put(self) -> None:
        """The producer's poke after a put: wakes the picker only when a ticket waits."""
        if self._waiting:
            with self._changed:
                self._changed.notify()

    def look_changed(self) -> None:
        """A new look: the current frame is a new picture for every view waiting."""
        with self._changed:
            self._changed.notify()

    # -- loop thread --------------------------------------------------------------------------------------
    def want(
        self, viewer: object, level: int, after: Key, window: CaptureWindow = ANY_CAPTURE
    ) -> asyncio.Future[Result]:
        """One grant of ``viewer``, served at ``level``: a future for the first picture newer than ``after``
        and than anything this view was given, of a frame captured within ``window``. Cancel it (or
        :meth:`forget` the view) to withdraw."""
        assert self._loop is not None, "EncodeCache.attach() first"
        ticket: asyncio.Future[Result] = self._loop.create_future()
        if self._closed is not None:
            ticket.set_exception(self._closed)
            return ticket
        with self._changed:
            hunger = self._hunger.get(viewer)
            if hunger is None:
                hunger = self._hunger[viewer] = Hunger(level, after)
            hunger.level = level
            hunger.through = max(hunger.through, after)
            hunger.window = window
            ready = self._ready(hunger) if not hunger.tickets else None
            if ready is not None:
                hunger.through = (ready.seq, ready.rev)
                ticket.set_result(ready)
                return ticket
            hunger.tickets.append(ticket)
            self._waiting += 1
            ticket.add_done_callback(functools.partial(self._withdraw, viewer))
            self._changed.notify()
            if window.until != math.inf and self._ready(hunger, ANY_CAPTURE) is not None:
                # The newest picture is there, encoded, but too soon for this capped view: the picker will
                # not encode it again, so it is answered from here when the window ends (or a newer comes).
                self._answer_at(window.until)
        if not self._started:
            self._started = True
            self._picker.start()
        return ticket

    def _ready(self, hunger: Hunger, window: CaptureWindow | None = None) -> Result | None:
        """The newest encode at the view's level when it is the slot's newest picture, newer than what the
        view has and captured within its window (or ``window``)."""
        newest = self._newest.get(hunger.level)
        frame = self.slot.peek()
        if newest is None or frame is None:
            return None
        key = (newest.seq, newest.rev)
        if key != (frame.seq, self._look().rev) or key <= hunger.through or not self._eligible(frame):
            return None
        admits = (hunger.window if window is None else window).admits(frame.t_capture, self.slot.clock())
        return newest if admits else None

    def _withdraw(self, viewer: object, ticket: asyncio.Future[Result]) -> None:
        if not ticket.cancelled():
            return  # answered: _publish took it off already
        with self._lock:
            hunger = self._hunger.get(viewer)
            if hunger is not None and ticket in hunger.tickets:
                hunger.tickets.remove(ticket)
                self._waiting -= 1

    def forget(self, viewer: object) -> None:
        """The view left: its tickets end (cancelled)."""
        with self._lock:
            hunger = self._hunger.pop(viewer, None)
            if hunger is not None:
                self._waiting -= len(hunger.tickets)
        for ticket in hunger.tickets if hunger is not None else ():
            ticket.cancel()

    async def encoded(self, frame: Frame, look: Look, level: int = 0) -> Result:
        """``frame`` processed and encoded with ``look``, once per level whoever asks (a viewer whose level
        does not apply asks for level 0: see ``adapts``)."""
        assert self._loop is not None, "EncodeCache.attach() first"
        key = (frame.seq, look.rev, level)
        newest = self._newest.get(level)
        if newest is not None and (newest.seq, newest.rev) == key[:2]:
            return newest
        with self._lock:
            future = self._inflight.get(key)
            if future is None:
                future = self._start(frame, look, level)
        # shield: one caller giving up must not cancel the encode the others wait for.
        result = await asyncio.shield(asyncio.wrap_future(future))
        self._drain()  # published before this caller goes on (the waker may not have come round yet)
        return result

    def close(self, error: BaseException) -> None:
        """The stream is gone: the picker stops, every waiting ticket ends with ``error``."""
        with self._changed:
            self._closed = error
            hungers, self._hunger = list(self._hunger.values()), {}
            self._waiting = 0
            self._changed.notify_all()
        # Called on the loop: wait a moment for an encode in progress, not for a slow ``process`` (the
        # picker ends after it, on its own).
        self._picker.stop(timeout=1.0)
        self._started = False
        for hunger in hungers:
            for ticket in hunger.tickets:
                if not ticket.done():
                    ticket.set_exception(error)

    # -- both (under _lock) -------------------------------------------------------------------------------
    def _start(self, frame: Frame, look: Look, level: int) -> concurrent.futures.Future[Result]:
        """Start encoding ``frame`` at ``level`` on the pool (RuntimeError once the pool is shut down)."""
        assert self._executor is not None, "EncodeCache.attach() first"
        future = self._executor.submit(
            self.encoder.encode, frame, look.rev, settings_for(look, level), look.process
        )
        return self._begin(frame, look, level, future)

    def _begin(
        self,
        frame: Frame,
        look: Look,
        level: int,
        future: concurrent.futures.Future[Result] | None = None,
    ) -> concurrent.futures.Future[Result]:
        """Enter an encode of ``frame`` in the table; without ``future``, the caller encodes and sets the
        result of the one returned."""
        if future is None:
            future = concurrent.futures.Future()
        key = (frame.seq, look.rev, level)
        self.slot.take(frame.seq)
        self._inflight[key] = future
        future.add_done_callback(functools.partial(self._finished, key, frame.t_capture))
        return future

    def _next_encode(self) -> tuple[Frame, Look, int] | None:
        """The picker's decision: the encode to start now, if any. A level needs one when a view waiting
        there has more tickets than the encodes already running for it, and the slot holds a picture newer
        than what it was given and than every encode running at that level."""
        self._recheck_at = math.inf
        frame = self.slot.peek()
        if frame is None or not self._eligible(frame):
            return None
        look = self._look()
        key = (frame.seq, look.rev)
        for hunger in self._hunger.values():
            if not hunger.tickets or key <= hunger.through:
                continue
            window = hunger.window  # ANY_CAPTURE (no cap) admits every frame: no clock read for it
            if window is not ANY_CAPTURE and not window.admits(frame.t_capture, self.slot.clock()):
                # Captured too soon after its last picture for a capped view: it takes a newer one, or this
                # one once its window's ``until`` has passed (the source may have stopped).
                self._recheck_at = min(self._recheck_at, hunger.window.until)
                continue
            level = hunger.level
            running = [k[:2] for k in self._inflight if k[2] == level]
            if (*key, level) in self._inflight or any(k >= key for k in running):
                continue
            if self._published.get(level) == key:
                continue  # published already; the view's next grant finds it (want)
            covered = sum(1 for k in running if k > hunger.through)
            if len(hunger.tickets) > covered:
                return frame, look, level
        return None

    # -- pool thread, then loop ---------------------------------------------------------------------------
    def _finished(self, key: EncodeKey, t_capture: float, future: concurrent.futures.Future[Result]) -> None:
        self._finished_queue.append((key, t_capture, future))
        nudge, loop = self._nudge, self._loop
        with self._lock:
            more = self._next_encode() is not None
        if nudge is not None and more:
            # The picker goes straight on to the next encode: the waker wakes the loop for it.
            nudge(self._drain)
        elif loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to answer
                loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        """Publish every finished encode (loop)."""
        while self._finished_queue:
            self._publish(*self._finished_queue.popleft())

    def _publish(self, key: EncodeKey, t_capture: float, future: concurrent.futures.Future[Result]) -> None:
        level, picture = key[2], key[:2]
        result: Result | None = None
        error: BaseException | None = None
        if future.cancelled():
            error = concurrent.futures.CancelledError()
        else:
            error = future.exception()
            if error is None:
                result = future.result()
        answered: list[asyncio.Future[Result]] = []
        held = math.inf  # the earliest end of a window that held this picture back from a view waiting for it
        now = self.slot.clock()
        with self._changed:
            self._inflight.pop(key, None)
            if result is not None:
                newest = self._newest.get(level)
                if newest is None or (newest.seq, newest.rev) <= picture:
                    self._newest[level] = result
                    self._published[level] = picture
            for hunger in self._hunger.values():
                if hunger.level != level or not hunger.tickets or picture <= hunger.through:
                    continue
                if not hunger.window.admits(t_capture, now):
                    held = min(held, hunger.window.until)
                    continue
                answered.append(self._hand_out(hunger, picture))
            self._changed.notify()
        if held != math.inf and result is not None:
            # Too soon for a capped view: it gets a newer frame, or this one once its window ends (the
            # source may have stopped; the picker will not encode a picture published already).
            self._answer_at(held)
        if result is not None:
            if isinstance(result, Encoded):
                self.encodes += 1
                self.last = result
            self._on_result(result)
        for ticket in answered:
            if ticket.done():
                continue
            if error is not None:
                ticket.set_exception(error)
            else:
                assert result is not None
                ticket.set_result(result)

    def _hand_out(self, hunger: Hunger, picture: Key) -> asyncio.Future[Result]:
        """Under the lock: the view's oldest ticket, to be answered with ``picture``."""
        hunger.through = picture
        self._waiting -= 1
        return hunger.tickets.popleft()

    def _answer_at(self, until: float) -> None:
        """Run ``_answer_ready`` on the loop when the capture clock reaches ``until`` (loop)."""
        if self._loop is not None:
            # 2 ms late: the loop's clock is monotonic, the window's the wall clock, which may be slewed.
            self._loop.call_later(max(0.0, until - self.slot.clock()) + 0.002, self._answer_ready)

    def _answer_ready(self) -> None:
        """Answer one ticket of every view that the newest published picture at its level now suits (loop)."""
        answered: list[tuple[asyncio.Future[Result], Result]] = []
        with self._changed:
            for hunger in self._hunger.values():
                ready = self._ready(hunger) if hunger.tickets else None
                if ready is not None:
                    answered.append((self._hand_out(hunger, (ready.seq, ready.rev)), ready))
        for ticket, result in answered:
            if not ticket.done():
                ticket.set_result(result)


class _Picker(Worker):
    """Picks the frame waiting tickets need as soon as the slot has it and encodes it on this thread, back
    to back, while the loop sends the previous one (see the module). Views at other levels waiting for the
    same frame get their encodes on the pool meanwhile."""

    name = "livecam-picker"

    def __init__(self, cache: EncodeCache) -> None:
        super().__init__()
        self._cache = cache

    def stop(self, timeout: float = 5.0) -> bool:
        with self._cache._changed:
            self._stop.set()
            self._cache._changed.notify()
        return super().stop(timeout)

    def _loop(self) -> None:
        cache = self._cache
        while True:
            with cache._changed:
                decision = None
                while not self._stop.is_set():
                    decision = cache._next_encode()
                    if decision is not None:
                        break
                    wait = cache._recheck_at - cache.slot.clock()
                    cache._changed.wait(None if wait == math.inf else max(0.0, wait))
                if decision is None:
                    return
                frame, look, level = decision
                future = cache._begin(frame, look, level)
                try:
                    while (other := cache._next_encode()) is not None and other[0] is frame:
                        cache._start(*other)
                except RuntimeError as exc:  # the encode pool is shut down: the server is stopping
                    loop = cache._loop
                    if loop is not None:
                        with contextlib.suppress(RuntimeError):  # the loop is closed too
                            loop.call_soon_threadsafe(cache.close, exc)
            try:
                result = cache.encoder.encode(frame, look.rev, settings_for(look, level), look.process)
            except BaseException as exc:  # a bug, not the user's: Encoder.encode reports their errors
                future.set_exception(exc)
            else:
                future.set_result(result)
