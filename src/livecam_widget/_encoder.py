"""Frame -> displayable bytes: channel order, the user's ``process``, downscale, JPEG/PNG.

Pure CPU work with no threads of its own; the server runs it on its encode pool, off the event loop. The
caller caches by ``(seq, rev)`` so each frame is encoded once for all viewers.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ._frames import Image, check_frame, fit, to_display
from ._slot import Frame

Process = Callable[[Image], Any]
FORMATS = {"jpeg": (".jpg", "image/jpeg"), "png": (".png", "image/png")}
#: Formats sent as video to the views that decode it (``_h264``); everything else gets JPEG.
VIDEO_FORMATS = ("h264", "auto")


@dataclass(frozen=True)
class Settings:
    format: str = "jpeg"
    quality: int = 80
    max_size: int = 0
    channels: str = "bgr"
    #: quality="auto": each viewer gets a step of _quality.LADDER (quality and scale) by what it sustains.
    auto_quality: bool = False
    #: Extra downscale after ``max_size`` (automatic quality's last steps); views draw it back at full size.
    scale: float = 1.0


@dataclass(frozen=True)
class Look:
    """Everything that decides how a frame is shown, as one immutable value.

    The server's loop owns a stream's look and swaps it whole; other threads (``snapshot()``, the
    recorder, MJPEG readers) read it without a lock and always see a consistent set. ``rev`` counts
    changes of ``settings`` and ``process``: the same frame under a new rev is a new picture to send.
    """

    settings: Settings = Settings()
    process: Process | None = None
    rev: int = 0
    #: Per-viewer frame-rate cap; 0 lifts it. Not part of ``rev``: it changes pacing, not pictures.
    max_fps: float = 30.0

    def restyled(self, settings: Settings | None = None, process: Process | bool | None = False) -> Look:
        """A new picture: new ``settings`` and/or ``process`` (False keeps the current one), rev + 1."""
        return dataclasses.replace(
            self,
            settings=self.settings if settings is None else settings,
            process=self.process if process is False else process,  # type: ignore[arg-type]
            rev=self.rev + 1,
        )

    def render(self, encoder: Encoder, frame: Frame) -> Image:
        return encoder.render(frame, self.rev, self.settings, self.process)


@dataclass(frozen=True)
class Encoded:
    seq: int
    rev: int
    t_capture: float
    mime: str
    width: int
    height: int
    source_width: int
    source_height: int
    data: bytes
    encode_ms: float
    #: Size before automatic quality's downscale (``width``/``height`` when it did not scale).
    full_width: int = 0
    full_height: int = 0

    def header(self, t_sent: float) -> dict[str, Any]:
        header = {
            "seq": self.seq,
            "rev": self.rev,
            "t_capture": self.t_capture,
            "t_sent": t_sent,
            "mime": self.mime,
            "width": self.width,
            "height": self.height,
            "source_width": self.source_width,
            "source_height": self.source_height,
        }
        if (self.full_width, self.full_height) != (self.width, self.height) and self.full_width:
            header["full_width"], header["full_height"] = self.full_width, self.full_height
        return header


@dataclass(frozen=True)
class Failure:
    """Rendering frame ``seq`` failed; ``message`` is what the widget and ``lf.error`` show."""

    seq: int
    rev: int
    message: str


class NotAFrame(ValueError):
    """``process`` returned something that is not a frame; the message says what, and where it is defined."""


def defined_at(fn: object) -> str:
    """Where a function (or a callable object's ``__call__``) is defined: what a user looks for."""
    call = type(fn).__call__ if not hasattr(fn, "__code__") and callable(fn) else None
    code = getattr(fn, "__code__", None) or getattr(call, "__code__", None)
    if code is None:
        return type(fn).__qualname__
    return f"{code.co_filename}:{code.co_firstlineno}"


def process_failure(exc: BaseException) -> str:
    """What ``lf.error`` and the views show when ``process`` failed on a frame."""
    return str(exc) if isinstance(exc, NotAFrame) else describe_exception("process()", exc)


def describe_exception(where: str, exc: BaseException) -> str:
    # The last frame of the traceback points at the user's line, which is what they need to fix it.
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{where} raised {type(exc).__name__}: {exc}{at}"


def scaled(image: Image, scale: float) -> Image:
    if scale >= 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class Encoder:
    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rendered: tuple[tuple[int, int], Image] | None = None

    def render(self, frame: Frame, rev: int, settings: Settings, process: Process | None) -> Image:
        """The full-size processed frame (what ``snapshot()`` returns); raises what ``process`` raised."""
        key = (frame.seq, rev)
        with self._lock:
            cached = self._rendered
        if cached is not None and cached[0] == key:
            return cached[1]
        image = to_display(frame.data, settings.channels)
        if process is not None:
            # OpenCV code often draws into its input in place; give it a private copy so the slot's frame
            # stays pristine (a changed setting re-renders it) and other viewers are unaffected.
            result = process(image.copy() if np.may_share_memory(image, frame.data) else image)
            try:
                checked = check_frame(result, "its result")
            except (TypeError, ValueError) as exc:
                where = f"process is defined at {defined_at(process)}"
                raise NotAFrame(f"process() returned no frame: {exc} ({where})") from None
            image = to_display(checked, "bgr")
        with self._lock:
            self._rendered = (key, image)
        return image

    def rendered(
        self, frame: Frame, rev: int, settings: Settings, process: Process | None
    ) -> Image | Failure:
        """``render``, or what it raised as the Failure the views and ``lf.error`` show (any encoder's first
        step: JPEG/PNG here, H.264 in ``_h264``)."""
        try:
            return self.render(frame, rev, settings, process)
        except Exception as exc:
            if process is None:
                return Failure(frame.seq, rev, describe_exception("frame conversion", exc))
            return Failure(frame.seq, rev, process_failure(exc))

    def encode(
        self, frame: Frame, rev: int, settings: Settings, process: Process | None
    ) -> Encoded | Failure:
        started = self._clock()
        image = self.rendered(frame, rev, settings, process)
        if isinstance(image, Failure):
            return image
        source_height, source_width = image.shape[:2]
        full = fit(image, settings.max_size)
        shown = scaled(full, settings.scale)
        ext, mime = FORMATS[settings.format]
        if ext == ".jpg":
            if shown.ndim == 3 and shown.shape[2] == 4:
                shown = cv2.cvtColor(shown, cv2.COLOR_BGRA2BGR)  # JPEG has no alpha
            params = [cv2.IMWRITE_JPEG_QUALITY, settings.quality]
        else:
            params = [cv2.IMWRITE_PNG_COMPRESSION, 1]  # fast; PNG is for exactness, not size
        ok, buf = cv2.imencode(ext, shown, params)
        if not ok:
            return Failure(
                frame.seq, rev, f"cv2.imencode({ext}) failed for a {shown.shape} {shown.dtype} frame"
            )
        return Encoded(
            seq=frame.seq,
            rev=rev,
            t_capture=frame.t_capture,
            mime=mime,
            width=int(shown.shape[1]),
            height=int(shown.shape[0]),
            source_width=int(source_width),
            source_height=int(source_height),
            data=buf.tobytes(),
            encode_ms=(self._clock() - started) * 1000.0,
            full_width=int(full.shape[1]),
            full_height=int(full.shape[0]),
        )
