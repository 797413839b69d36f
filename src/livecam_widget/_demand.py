"""Who wants frames from a source right now: the pull discipline carried all the way to the capture.

A source is read only while something wants its frames: a view of any transport that asked for one
recently, a frame request still waiting, a recording, ``snapshot()``, or the user's ``keep_running=True``.
After ``grace`` seconds with none of these, the source thread idles: a camera stays open but is not read,
a file keeps its position, a generator is not advanced, a callable is not called.

Consumers (the server's loop, MJPEG reader threads, the widget's thread) report here with ``ask``/``done``
(one frame request) or ``hold``/``release`` (a standing want: a recording, ``keep_running``); the source
thread blocks in ``await_frames``. Thread-safe; every decision reads the injected clock, so the rules are
tested with a fake one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Demand:
    def __init__(self, grace: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self._clock = clock
        self._changed = threading.Condition()
        self._holds = 0
        self._waiting = 0
        #: Frame requests so far; an on-demand source serves each batch of them with one read.
        self._asks = 0
        self._last = -float("inf")
        self._interrupted = False
        #: A source thread is reading (started, not ended, not stopped): a consumer that asks will get a
        #: new frame. Written by the source thread only.
        self.live = False

    # -- consumers (any thread) ---------------------------------------------------------------------------
    def hold(self) -> None:
        """A standing want (a recording, keep_running): frames until :meth:`release`."""
        with self._changed:
            self._holds += 1
            self._changed.notify_all()

    def release(self) -> None:
        with self._changed:
            self._holds = max(0, self._holds - 1)
            self._last = self._clock()

    def ask(self) -> bool:
        """A consumer waits for a newer frame until :meth:`done`. True when the source was idle until now:
        whatever frame it made before is stale for this consumer."""
        with self._changed:
            idle = not self._wanted()
            self._waiting += 1
            self._asks += 1
            self._last = self._clock()
            self._changed.notify_all()
            return idle

    def done(self) -> None:
        with self._changed:
            self._waiting = max(0, self._waiting - 1)
            self._last = self._clock()

    # -- the source thread --------------------------------------------------------------------------------
    @property
    def asks(self) -> int:
        return self._asks

    @property
    def held(self) -> bool:
        return self._holds > 0

    def wanted(self) -> bool:
        with self._changed:
            return self._wanted()

    def _wanted(self) -> bool:
        return self._holds > 0 or self._waiting > 0 or self._clock() - self._last < self.grace

    def _unserved(self, served: int) -> bool:
        return self._holds > 0 or (self._waiting > 0 and self._asks > served)

    def await_frames(self, on_demand: bool, served: int, poll: float | None = None) -> tuple[bool, bool]:
        """Block the source thread until it should read: while frames are wanted (a paced source), or
        (``on_demand``) while a request newer than ``served`` waits. Returns (go, idled): ``go`` False when
        :meth:`interrupt` woke it (the thread is stopping); ``idled`` True when it had to wait for a
        consumer after the grace ran out. ``poll`` bounds each wait, for the grace's end to be noticed."""
        with self._changed:
            idled = False
            while not self._interrupted:
                if self._unserved(served) if on_demand else self._wanted():
                    return True, idled
                if not on_demand or not self._wanted():
                    idled = True
                remaining = self._last + self.grace - self._clock()
                timeout = remaining if remaining > 0 and not on_demand else None
                if poll is not None:
                    timeout = poll if timeout is None else min(timeout, poll)
                self._changed.wait(timeout)
            self._interrupted = False
            return False, idled

    def interrupt(self) -> None:
        """Wake the source thread: it is stopping."""
        with self._changed:
            self._interrupted = True
            self._changed.notify_all()
