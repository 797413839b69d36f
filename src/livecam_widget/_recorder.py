"""Recording what the views show to a video file, in a thread of its own.

The recorder reads the latest-frame slot like a viewer does (``peek``, never ``take``), so it cannot slow
the producer or the live views: when it falls behind it writes the newest frame and skips the rest. It
writes one frame per tick of the source's pace, repeating the last one while nothing new comes, so the
file's timeline is the wall clock's (a stalled source shows as a still, as it did on screen).
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from ._pacing import Deadline
from ._slot import Frame, LatestFrame
from ._threads import Worker

Render = Callable[[Frame], Any]
#: The codec for each container when none is given; all ship with OpenCV's own FFmpeg.
FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}


def fourcc_for(path: str, fourcc: str | None) -> str:
    if fourcc is not None:
        if len(fourcc) != 4:
            raise ValueError(f"fourcc must be 4 characters such as 'mp4v' or 'MJPG', got {fourcc!r}")
        return fourcc
    suffix = pathlib.Path(path).suffix.lower()
    if suffix not in FOURCC_BY_SUFFIX:
        known = ", ".join(sorted(FOURCC_BY_SUFFIX))
        raise ValueError(f"cannot tell the video format of {path!r}: use one of {known}, or pass fourcc=")
    return FOURCC_BY_SUFFIX[suffix]


def as_bgr(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 3-channel frame of the file's size: VideoWriter takes one size and BGR for the whole file."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


class Recorder(Worker):
    """Writes ``render(newest frame)`` to ``path`` at ``fps`` until stopped."""

    name = "livecam-recorder"

    def __init__(
        self,
        path: str,
        slot: LatestFrame,
        render: Render,
        fps: float,
        *,
        fourcc: str | None = None,
        on_error: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        if not fps > 0:
            raise ValueError(f"recording needs a frame rate > 0, got {fps}")
        self.path = str(path)
        self.fps = float(fps)
        self.fourcc = fourcc_for(self.path, fourcc)
        self.frames = 0
        self._slot = slot
        self._render = render
        self._on_error = on_error
        self._clock = clock
        self._writer: Any = None
        self._size: tuple[int, int] | None = None

    def _loop(self) -> None:
        deadline = Deadline(self.fps)
        try:
            while not self._stop.is_set():
                self.write_newest()
                self._stop.wait(deadline.wait_time(self._clock()))
        finally:
            self.release()

    def write_newest(self) -> bool:
        """Write the newest frame once (a repeat if nothing new came); False when there is none yet."""
        frame = self._slot.peek()
        if frame is None:
            return False
        try:
            image = self._render(frame)
        except Exception:
            return False  # a process() error: the views show it already; record the next good frame
        if self._writer is None and not self._open(image):
            self._stop.set()
            return False
        assert self._size is not None
        self._writer.write(as_bgr(image, self._size))
        self.frames += 1
        return True

    def _open(self, first: np.ndarray) -> bool:
        self._size = (int(first.shape[1]), int(first.shape[0]))
        code = cv2.VideoWriter_fourcc(*self.fourcc)  # type: ignore[attr-defined]
        writer = cv2.VideoWriter(self.path, code, self.fps, self._size)
        if not writer.isOpened():
            if self._on_error is not None:
                self._on_error(f"cannot record to {self.path!r} with codec {self.fourcc!r}")
            return False
        self._writer = writer
        return True

    def release(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()
