"""The latest-frame slot: the one place where producer and consumers meet.

The producer overwrites; nothing ever queues. A frame that is overwritten before any consumer took it is
counted as dropped. This module does no I/O and knows no threads beyond its lock, so it is tested with a
fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._frames import Image


@dataclass(frozen=True)
class Frame:
    seq: int
    t_capture: float
    data: Image


class LatestFrame:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        #: The capture clock (wall clock): what ``t_capture`` is measured on.
        self.clock = clock
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._taken = True
        self._seq = 0
        self.dropped = 0
        #: Called after every put, outside the lock, on the producer's thread. Must be cheap.
        self.on_put: Callable[[int], None] | None = None

    def put(self, data: Image, t_capture: float | None = None) -> int:
        """The newest frame, captured now unless ``t_capture`` (wall clock) says when."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            if not self._taken:
                self.dropped += 1
            self._latest = Frame(seq, self.clock() if t_capture is None else t_capture, data)
            self._taken = False
        callback = self.on_put
        if callback is not None:
            callback(seq)
        return seq

    def peek(self) -> Frame | None:
        return self._latest

    def take(self, seq: int) -> None:
        """Mark frame ``seq`` as consumed (it will not count as dropped)."""
        with self._lock:
            if self._latest is not None and self._latest.seq == seq:
                self._taken = True

    @property
    def count(self) -> int:
        return self._seq

    def clear(self) -> None:
        with self._lock:
            self._latest = None
            self._taken = True
