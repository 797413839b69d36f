"""Pacing and rate measurement, as pure code over an injected clock."""

from __future__ import annotations

from collections import deque


class Pacer:
    """Keeps one viewer's frames ``1/max_fps`` apart on a fixed grid (``max_fps <= 0``: no cap).

    The grid matters for a source that runs at exactly ``max_fps``: measured from the previous pick,
    every sleep's overshoot and every late frame would push the next pick later, until a frame is
    skipped (29.1 of 30 fps); on the grid they do not add up. A viewer that fell more than an interval
    behind (paused, hidden, slow) starts a new grid instead of bursting to catch up.
    """

    def __init__(self, max_fps: float) -> None:
        self.max_fps = max_fps
        self._due: float | None = None
        self._last: float | None = None
        #: The cap the grid was laid for.
        self._grid_fps = max_fps

    def delay(self, now: float) -> float:
        """Seconds to wait before the next send is allowed."""
        if self.max_fps <= 0 or self._last is None:
            return 0.0
        if self._due is None or self._grid_fps != self.max_fps:
            # The cap changed since the last send: the next send is one new interval after it.
            self._due, self._grid_fps = self._last + 1.0 / self.max_fps, self.max_fps
        return max(0.0, self._due - now)

    def sent(self, now: float) -> None:
        self._last = now
        if self.max_fps <= 0:
            self._due = None
            return
        interval = 1.0 / self.max_fps
        if self._due is None or self._grid_fps != self.max_fps or now - self._due > interval:
            self._due = now
        self._due += interval
        self._grid_fps = self.max_fps


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
