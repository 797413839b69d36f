"""The viewer's own camera as a source (``LiveFrame("browser")``): frames pulled from one view, one at a time.

There is no capture thread. The server asks the capturing view for a frame (``capture``, numbered); the view
answers with its newest camera frame, once, as a binary message; the kernel decodes it on the encode pool and
puts it in the slot like any pushed frame, and only then asks for the next. So at most one camera frame is
on its way or being decoded at any time, whatever the link: the views' pull discipline, the other way round.
From the slot on, the frame is like any other: ``process``, the encode-once cache, every view.

Nothing travels that nobody wants: requests stop while the widget is paused, and while no view pulls
frames (all hidden or paused), nothing records and ``keep_running`` is off, after the same grace as any
source (2 s); the camera stays open in the browser meanwhile.

One view captures at a time. A view offers its camera on its own when no view captures (``auto``), and takes
it over when its user presses its camera button. When the capturing view goes away (closed, reloaded, its
connection lost), the others hear that nobody captures, and the first to offer takes over.

The browser stamps a frame with its own clock. Each answer also says when the request arrived and when the
answer left; with the kernel's send and receive times that is one NTP exchange: offset = ((arrived - asked)
+ (left - received)) / 2, round trip = (received - asked) - (left - arrived). The offset of the exchange
with the shortest round trip among the last 32 translates capture times to the kernel's clock, so a frame's
age (and the views' latency) counts from the moment the browser captured it.

Loop-owned, like the ``Stream`` that holds it; the decode runs on the encode pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from ._frames import Image
from ._pacing import RateMeter
from ._protocol import CameraFrame, camera_role, capture

#: Largest camera frame a view may send (a 1920x1080 JPEG at high quality is well under 1 MiB).
MAX_UPLOAD = 4 * 1024 * 1024
#: Largest side of a camera frame the kernel decodes.
MAX_SIDE = 4096
_SPEC = re.compile(r"^browser(?::(\d+)x(\d+))?(?:@(\d+(?:\.\d+)?))?$")
_HOW = "use 'browser', 'browser:WxH' or 'browser:WxH@FPS', such as 'browser:1280x720@30'"


@dataclass(frozen=True)
class CameraWish:
    """What the view asks its browser for (a wish: the browser picks the nearest its camera offers)."""

    width: int = 640
    height: int = 480
    fps: float = 30.0

    def message(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "fps": self.fps}


def parse_browser_source(spec: Any) -> CameraWish | None:
    """``"browser"`` and its forms as a wish; None for any other source; ValueError for a malformed one."""
    if not isinstance(spec, str) or not spec.startswith("browser"):
        return None
    match = _SPEC.match(spec)
    if match is None:
        raise ValueError(f"unknown browser camera {spec!r}: {_HOW}")
    width, height, fps = match.groups()
    wish = CameraWish(
        int(width) if width else CameraWish.width,
        int(height) if height else CameraWish.height,
        float(fps) if fps else CameraWish.fps,
    )
    if not (16 <= wish.width <= MAX_SIDE and 16 <= wish.height <= MAX_SIDE):
        raise ValueError(f"browser camera size {wish.width}x{wish.height}: each side must be 16..{MAX_SIDE}")
    if not 1 <= wish.fps <= 120:
        raise ValueError(f"browser camera frame rate {wish.fps:g}: must be 1..120")
    return wish


class ClockOffset:
    """The browser's clock minus the kernel's, from request/answer exchanges (seconds)."""

    def __init__(self, window: int = 32) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=window)

    def observe(self, asked: float, arrived: float, left: float, received: float) -> None:
        """``asked``/``received``: kernel clock; ``arrived``/``left``: browser clock (all seconds)."""
        trip = (received - asked) - (left - arrived)
        offset = ((arrived - asked) + (left - received)) / 2
        self._samples.append((max(0.0, trip), offset))

    @property
    def offset(self) -> float | None:
        return min(self._samples)[1] if self._samples else None

    @property
    def trip(self) -> float | None:
        return min(self._samples)[0] if self._samples else None

    def to_kernel(self, browser_time: float) -> float:
        return browser_time - (self.offset or 0.0)


_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


def image_size(data: bytes, mime: str) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header or a PNG's IHDR, read before decoding anything (so a
    small file claiming a huge picture is refused, not decoded); None when there is none to read."""
    if mime == "image/png":
        if len(data) >= 24 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        return None
    i = 2 if data[:2] == b"\xff\xd8" else len(data)
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def decode_camera_frame(data: bytes, mime: str) -> Image:
    """The frame as a BGR array; ValueError saying what was wrong."""
    size = image_size(data, mime)
    if size is None:
        raise ValueError(f"a camera frame is not a readable {mime}")
    if not (0 < size[0] <= MAX_SIDE and 0 < size[1] <= MAX_SIDE):
        raise ValueError(f"a camera frame of {size[0]}x{size[1]}: each side must be 1..{MAX_SIDE}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"a camera frame could not be decoded as {mime}")
    return image


class Viewer(Protocol):
    def send_text(self, text: str) -> None: ...


#: ``deliver(image, t_capture)``: the decoded frame into the widget's slot (kernel wall clock).
Deliver = Callable[[Image, float], None]


class BrowserCamera:
    """Which view captures, what was asked of it, and the frames it answered with."""

    def __init__(
        self,
        wish: CameraWish,
        deliver: Deliver,
        report_error: Callable[[str | None], None],
        viewers: Callable[[], Iterable[Viewer]],
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wish = wish
        self._deliver = deliver
        self._report_error = report_error
        self._viewers = viewers
        self._wall = wall
        self._clock = clock
        self.capturer: Viewer | None = None
        self.offset = ClockOffset()
        self._ask = 0
        self._answered = 0
        self._asked_at = 0.0
        self._waiting = False
        self._failed = False
        self.received = 0
        self.ignored = 0
        self._rate = RateMeter()
        self._browser_fps: float | None = None
        #: Whether anything wants frames (a view pulling, a recording, keep_running): the stream's demand.
        self.wanted: Callable[[], bool] = lambda: True
        #: The widget is paused (``lf.stop()``): nothing is asked for until it is live again.
        self.paused = False

    # -- views (loop thread) ------------------------------------------------------------------------------
    def welcome(self, viewer: Viewer) -> None:
        viewer.send_text(camera_role(False, self.capturer is not None))

    def claim(self, viewer: Viewer, auto: bool) -> None:
        if self.capturer is viewer or (auto and self.capturer is not None):
            viewer.send_text(camera_role(self.capturer is viewer, True))
            return
        self.capturer = viewer
        self._tell_roles()
        self._ask_next()

    def refused(self, viewer: Viewer, name: str, message: str) -> None:
        """The view's browser could not capture (permission, no camera, camera busy, insecure page)."""
        self._report_error(f"browser camera: {camera_error_text(name, message)}")
        self._failed = True
        if viewer is self.capturer:
            self.capturer = None
            self._waiting = False
            self._tell_roles()

    def leave(self, viewer: Viewer) -> None:
        if viewer is self.capturer:
            self.capturer = None
            self._waiting = False
            self._tell_roles()

    async def frame(self, viewer: Viewer, frame: CameraFrame, executor: concurrent.futures.Executor) -> None:
        """An answer. One for an old request or from a view that no longer captures is dropped (it was
        asked for; the view did nothing wrong)."""
        asked = viewer is self.capturer and self._waiting and frame.ask == self._ask
        if not asked or frame.ask == self._answered:
            self.ignored += 1
            return
        # Still "waiting" while it decodes: the next request goes out once this frame is in the slot.
        answered = self._answered = frame.ask
        received = self._wall()
        self.offset.observe(self._asked_at, frame.t_received / 1000, frame.t_sent / 1000, received)
        t_capture = min(received, self.offset.to_kernel(frame.t_capture / 1000))
        self._browser_fps = frame.fps
        try:
            image = await asyncio.get_running_loop().run_in_executor(
                executor, decode_camera_frame, frame.payload, frame.mime
            )
        except ValueError as exc:
            self._report_error(f"browser camera: {exc}")
            self._failed = True
        else:
            self.received += 1
            self._rate.add(self._clock())
            self._deliver(image, t_capture)
            if self._failed:
                self._failed = False
                self._report_error(None)
        if self._ask == answered:  # no new request went out meanwhile (another view took over, say)
            self._waiting = False
            self._ask_next()

    def wake(self) -> None:
        """Something may want frames again (a view asked, the widget resumed): ask, unless a request is
        already out."""
        if not self._waiting:
            self._ask_next()

    def stats(self) -> dict[str, Any]:
        trip = self.offset.trip
        return {
            "capturing": self.capturer is not None,
            "fps_browser": self._browser_fps,
            "fps_received": round(self._rate.rate(self._clock()), 2),
            "received": self.received,
            "clock_trip_ms": round(trip * 1000, 1) if trip is not None else None,
        }

    # -- inside -------------------------------------------------------------------------------------------
    def _ask_next(self) -> None:
        capturer = self.capturer
        if capturer is None or self.paused or not self.wanted():
            return  # idle: the camera stays open in the browser, but no frame travels; wake() resumes
        self._ask += 1
        self._waiting = True
        self._asked_at = self._wall()
        capturer.send_text(capture(self._ask))

    def _tell_roles(self) -> None:
        taken = self.capturer is not None
        for viewer in self._viewers():
            viewer.send_text(camera_role(viewer is self.capturer, taken))


#: What the browser's error names mean, in words a user can act on.
_ERRORS = {
    "NotAllowedError": "permission denied: allow the camera for this page in the browser (its address bar); "
    "the view then starts it (or press its ◉ button)",
    "NotFoundError": "no camera found on the computer this browser runs on",
    "NotReadableError": "the camera is in use by another program or tab, or failed to start",
    "OverconstrainedError": "the camera cannot deliver the size or rate asked for",
    "SecurityError": "the camera needs a secure page: https:// or http://localhost",
    "InsecureContext": "the camera needs a secure page: https:// or http://localhost",
    "AbortError": "the camera failed to start",
}


def camera_error_text(name: str, message: str) -> str:
    meaning = _ERRORS.get(name, "could not start the camera")
    detail = f" ({name}: {message})" if message else f" ({name})" if name else ""
    return meaning + detail
