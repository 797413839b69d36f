"""Pacing and rate measurement, as pure code over an injected clock."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


class RateMeter:
    """Events per second over a sliding window. Memory is bounded by ``max_events``."""

    def __init__(self, window: float = 1.0, max_events: int = 10_000) -> None:
        self.window = window
        self._times: deque[float] = deque(maxlen=max_events)
        self.total = 0

    def add(self, now: float) -> None:
        self._times.append(now)
        self.total += 1

    def rate(self, now: float) -> float:
        times = self._times
        while times and times[0] <= now - self.window:
            times.popleft()
        return len(times) / self.window


class TokenBucket:
    """Allows ``rate`` events per second with bursts of ``burst``; used to cap what clients may send."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def allow(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Deadline:
    """Paces a producer at ``fps`` without drift: each wait aims at the previous deadline plus one interval,
    and a producer that fell behind skips ahead instead of bursting to catch up."""

    def __init__(self, fps: float | None) -> None:
        self.fps = fps
        self._due: float | None = None

    def wait_time(self, now: float) -> float:
        if not self.fps or self.fps <= 0:
            return 0.0
        interval = 1.0 / self.fps
        if self._due is None or now - self._due > interval:
            self._due = now
        wait = max(0.0, self._due - now)
        self._due += interval
        return wait

    def ready(self, now: float) -> bool:
        """For a producer that paces itself (a camera): may a frame go now? Takes the grid's next slot when
        it may. Half an interval of tolerance, so a device running at exactly ``fps`` loses no frames to
        jitter; a faster one is thinned to ``fps``."""
        if not self.fps or self.fps <= 0:
            return True
        interval = 1.0 / self.fps
        if self._due is None or now - self._due > interval:
            self._due = now
        if now < self._due - interval / 2:
            return False
        self._due += interval
        return True


@dataclass(frozen=True)
class CaptureWindow:
    """Which frames a viewer under a frame-rate cap may get next (``CaptureGrid.window``): one captured from
    ``opens`` on; or, once the clock passes ``until``, whatever is newest (a source that stopped or slowed
    has no frame that new, and the last one it made must still reach the view); or one captured before
    ``last``, the capture time of the last frame the viewer got (newer but captured earlier: the wall clock
    was set back, and waiting for it to catch up would freeze the view). Times are the capture clock's
    (wall clock). An immutable value: the picker thread reads it."""

    opens: float = -math.inf
    until: float = math.inf
    last: float = math.inf

    def admits(self, t_capture: float, now: float) -> bool:
        return t_capture >= self.opens or now >= self.until or t_capture < self.last


#: No cap: every frame.
ANY_CAPTURE = CaptureWindow()


class CaptureGrid:
    """A viewer's cap (``fps``; 0: none) as a grid of capture times: the frames it may get next are those
    captured from a quarter interval before the grid's next slot (``window``), and each frame it gets moves
    the slot one interval on (``take``).

    Capture times rather than send times: a frame goes as soon as it is captured and encoded. A grid of send
    times has a phase of its own, set by the first send, and a source at exactly the cap then had every
    frame wait in the slot for that phase, 0 to 1 interval, for as long as the view lived (60 fps at
    max_fps=60 reached the page 4.3 ms after capture at the median and 18 ms at p95, against 2.8 and 6.6
    without a cap). On capture times a source at the cap passes frame for frame: a frame earlier than its
    slot by up to a quarter interval is taken, and a late one does not move the grid, so the next on-time
    frame is still taken. A faster source is thinned to the cap (the slot moves one interval per frame, so
    at most ``fps`` frames a second of capture time, and frames at twice the cap are taken every other one,
    not irregularly). A source that stopped or slowed has no frame that late: half an interval past the slot
    the window takes the newest frame there is, so the last frame of a burst still reaches the view, and the
    grid starts again at that frame (so a grid that got ahead of the source's phase costs one frame's delay,
    once). A view that was away more than an interval starts a new grid at its next frame instead of
    catching up.
    """

    TOLERANCE = 0.25  # of an interval; below 1/2, or a source at twice the cap would be taken irregularly
    #: Past its slot by this much (of an interval), the window takes the newest frame whenever it was made:
    #: late enough that a source at up to twice the cap has a frame in the window by then.
    LATE = 0.5

    def __init__(self, fps: float = 0.0) -> None:
        self.fps = fps
        self._due: float | None = None
        self._grid_fps = fps  # the cap ``_due`` was laid for
        self._last = math.inf

    def window(self) -> CaptureWindow:
        if self.fps <= 0 or self._last == math.inf:
            return ANY_CAPTURE
        if self._due is None or self._grid_fps != self.fps:
            # A cap set or changed since the last frame: its next slot is one new interval after it.
            self._due, self._grid_fps = self._last + 1.0 / self.fps, self.fps
        interval = 1.0 / self.fps
        return CaptureWindow(
            self._due - self.TOLERANCE * interval, self._due + self.LATE * interval, self._last
        )

    def take(self, t_capture: float) -> None:
        self._last = t_capture
        if self.fps <= 0:
            self._due = None
            return
        interval, self._grid_fps = 1.0 / self.fps, self.fps
        due = self._due
        if due is None or t_capture - due > interval or t_capture < due - self.TOLERANCE * interval:
            # The first frame, one after a gap, or one taken before its window opened (``until``: the grid
            # was ahead of the source; or the clock was set back): the grid starts again at it.
            self._due = t_capture + interval
        else:
            self._due = due + interval  # a late frame does not move the grid: the next on-time one still goes
