from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam_widget import draw_code


class FakeClock:
    """A clock tests move by hand: timing logic is tested without sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> object:
    """Poll until ``predicate()`` is truthy; fail with a clear message after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"condition not met within {timeout} s: {getattr(predicate, '__name__', predicate)}"
            )
        time.sleep(interval)


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """``wait_for`` for a coroutine on a running loop: poll without blocking the loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.005)


def livecam_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("livecam")]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Threads and file descriptors return to where they were once the test closed what it opened."""
    before = open_fds()
    yield
    wait_for(lambda: not livecam_threads(), timeout=10)
    wait_for(lambda: open_fds() <= before, timeout=10)


def make_video(path: Path, frames: int = 30, size: tuple[int, int] = (320, 240), fps: float = 30.0) -> Path:
    """A real video file whose frame i carries i as a block code, written through cv2.VideoWriter."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "cv2.VideoWriter could not open an MJPG .avi"
    for i in range(frames):
        img = np.full((size[1], size[0], 3), 90, np.uint8)
        draw_code(img, i, bits=12, x=0, y=0, block=16)
        writer.write(img)
    writer.release()
    return path


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    return make_video(tmp_path / "clip.avi")
