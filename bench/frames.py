"""The frames every server is fed, and the one producer thread that feeds them.

Frames are generated once per resolution and cycled, so LiveFrame and the baselines encode exactly the
same pixels and frame generation costs nothing during a measurement. The content is the package's
TestPattern (moving gradient, ball, text, block code) plus gaussian "sensor" noise (sigma 6): without the
noise the pattern is so smooth that a 1280x720 JPEG is ~40 KB and encodes in 1.5 ms, far easier than a
real camera; with it a frame is ~100 KB at quality 80, which is what a webcam typically produces.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from livecam_widget import TestPattern

Frame = np.ndarray
NOISE_SIGMA = 6.0
_cache: dict[tuple[int, int, int, int], list[Frame]] = {}


def make_frames(width: int, height: int, count: int, seed: int = 0, noise_fields: int = 8) -> list[Frame]:
    """``count`` distinct BGR uint8 frames (cached per size, so rows share them), their noise taken
    round-robin from ``noise_fields`` gaussian fields."""
    key = (width, height, count, noise_fields)
    if key in _cache:
        return _cache[key]
    rng = np.random.default_rng(seed)
    # By default a small bank of noise fields, reused round-robin: each frame still differs (the pattern
    # moves and carries its number), and generating 120 full-size gaussian fields (60 ms each at 1280x720)
    # would dominate the suite's start-up. Picture quality (bench.quality) asks for a field per frame.
    bank = [
        (rng.standard_normal((height, width, 3), dtype=np.float32) * NOISE_SIGMA).astype(np.int16)
        for _ in range(min(count, noise_fields))
    ]
    frames = []
    for i, scene in enumerate(make_scene(width, height, count)):
        base = scene.astype(np.int16)
        base += bank[i % len(bank)]
        frames.append(np.clip(base, 0, 255).astype(np.uint8))
    _cache[key] = frames
    return frames


def make_scene(width: int, height: int, count: int) -> list[Frame]:
    """The frames of ``make_frames`` without their sensor noise: the scene the camera saw (bench.quality
    measures picture quality against both)."""
    pattern = TestPattern(width, height)
    t0 = 1_700_000_000.0
    return [pattern.frame(i + 1, t0 + i / 60.0) for i in range(count)]


class Call(NamedTuple):
    """One timed sink call, in seconds: wall time, this thread's CPU time, and the time the thread sat
    runnable but not running (the kernel's run-queue delay: preempted by other threads or processes)."""

    wall: float
    cpu: float
    runq: float


def _run_delay() -> float:
    # /proc/thread-self/schedstat: "<ns on cpu> <ns waiting on a run queue> <timeslices>".
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


class Producer:
    """One thread calling ``sink(frame)`` at ``fps`` (None: as fast as it can), cycling ``frames``.

    Deadline pacing without drift, like a camera: a late frame does not make the next ones burst. With
    ``record=True`` it times every sink call (row 4 measures ``LiveFrame.update`` this way). The schedstat
    reads bracket the timed section, so they do not count in it.
    """

    def __init__(
        self, frames: list[Frame], fps: float | None, sink: Callable[[Frame], object], record: bool = False
    ) -> None:
        self.frames = frames
        self.fps = fps
        self.sink = sink
        self.record = record
        self.latencies: list[Call] = []  # one per sink call while recording
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-producer", daemon=True)

    def start(self) -> Producer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        frames, n = self.frames, len(self.frames)
        interval = 1.0 / self.fps if self.fps else 0.0
        clock = time.perf_counter
        due = clock()
        i = 0
        while not self._stop.is_set():
            if interval:
                now = clock()
                if now < due:
                    time.sleep(due - now)
                elif now - due > interval:
                    due = now  # fell behind by more than a frame: skip ahead instead of bursting
                due += interval
            frame = frames[i % n]
            if self.record:
                q0 = _run_delay()
                c0, t0 = time.thread_time(), clock()
                self.sink(frame)
                t1, c1 = clock(), time.thread_time()
                self.latencies.append(Call(t1 - t0, c1 - c0, _run_delay() - q0))
            else:
                self.sink(frame)
            i += 1
            self.count = i
