"""One viewer's rules, as a sans-I/O state machine: events and ``now`` in, decisions out.

Every way of watching a stream (a WebSocket, the widget's comm channel, an MJPEG reader) obeys the same
rules: a frame only against a grant, at most ``max_outstanding`` grants, a message rate limit, at most
``max_fps`` frames a second, the newest frame after the one last sent, and records of what was sent and
painted (rates, latency, the automatic-quality level). Those rules live here, once, over an injected clock,
so they are unit-tested without sockets or sleeping. The drivers (``_drivers.py`` for WebSocket and comm
viewers, ``_http.py`` for MJPEG) only move bytes and wait where this module tells them to.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

from ._chains import Seat
from ._encoder import Encoded
from ._pacing import CaptureGrid, CaptureWindow, RateMeter, TokenBucket
from ._protocol import (
    CLOSE_POLICY,
    CameraClaim,
    CameraError,
    CameraFrame,
    NextRequest,
    Painted,
    Pointer,
    ProtocolError,
    VideoOffer,
    hello,
    parse_client_message,
)
from ._quality import QualityController

#: A frame's identity for "newer than": (seq, rev). A changed look (rev) makes the same frame new again.
Key = tuple[int, int]
#: Before anything was sent: every frame is newer.
NOTHING_SENT: Key = (0, -1)


@dataclass(frozen=True)
class Limits:
    """What one client may do. Past a limit the client is closed with 1008; others are unaffected."""

    max_outstanding: int = 4
    max_messages_per_s: float = 1000.0
    max_clients: int = 64
    #: Bytes the server buffers for one client before ``send`` waits; a stalled client holds at most this
    #: plus its granted frames.
    write_limit: int = 256 * 1024


@dataclass(frozen=True)
class Close:
    """Decision: close this viewer with a WebSocket close code and reason."""

    code: int
    reason: str


@dataclass(frozen=True)
class Granted:
    """Decision: the message was a grant (``next``), now counted."""


@dataclass(frozen=True)
class Noted:
    """Decision: the message changed only this viewer's own state (a video offer); nothing to do."""


#: What ``ViewerCore.receive`` decides about one client message: camera messages go on to the stream.
Decision = Close | Granted | Noted | Pointer | CameraClaim | CameraError | CameraFrame


class ViewerCore:
    """The state of one viewer. Not thread-safe: its driver calls it from one thread (the server's loop, or
    the MJPEG reader's own thread)."""

    def __init__(self, limits: Limits, now: float, own_cap: float = 0.0, max_upload: int = 0) -> None:
        self.limits = limits
        #: Largest camera frame this viewer may send (0: none; the stream's source is not the browser).
        self.max_upload = max_upload
        #: This viewer's own frame-rate cap, applied below the widget's ``max_fps`` (MJPEG's ``?fps=``).
        self.own_cap = own_cap
        self.outstanding = 0
        #: Grants received; a paused view must leave this flat.
        self.requests = 0
        self.last_request = -1e9
        self.last_key: Key = NOTHING_SENT
        self.quality = QualityController()
        #: Adapts its quality even when the widget's is fixed (the comm transport; ``_encodes.adapts``).
        self.adaptive = False
        self._grid = CaptureGrid()
        self._bucket = TokenBucket(limits.max_messages_per_s, limits.max_messages_per_s, now)
        self._sent = RateMeter()
        self._painted = RateMeter()
        #: Per frame in flight: when it was sent (for the trip to paint) and captured (for latency).
        self._sent_at: dict[Key, float] = {}
        self._t_capture: dict[Key, float] = {}
        self._trips: deque[float] = deque(maxlen=16)
        self._latencies: deque[tuple[float, float]] = deque(maxlen=256)
        #: Video codecs the view decodes (its ``video`` offer), its place on an encoder chain, and whether
        #: format="auto" moved it to video (for the rest of the connection).
        self.video_codecs: frozenset[str] = frozenset()
        self.seat = Seat()
        self.video_switched = False
        #: What the last frame sent was coded as: "jpeg", "png" or "h264" (None before any).
        self.codec: str | None = None

    # -- events in ----------------------------------------------------------------------------------------
    def hello(self, state: str, camera: dict[str, Any] | None = None) -> str:
        """The first message a viewer gets."""
        return hello(self.limits.max_outstanding, self.limits.max_messages_per_s, state, camera)

    def receive(self, message: str | bytes, now: float, wall: float) -> Decision:
        """One client message: a grant, a pointer event to hand on, or a reason to close. ``now`` is the
        monotonic clock, ``wall`` the wall clock (capture times are wall-clock: they travel to browsers)."""
        if not self._bucket.allow(now):
            return Close(CLOSE_POLICY, f"more than {self.limits.max_messages_per_s:g} messages/s")
        try:
            request = parse_client_message(message, self.max_upload)
        except ProtocolError as exc:
            return Close(exc.code, exc.reason)
        if isinstance(request, VideoOffer):
            if request.codecs != self.video_codecs:
                self.video_codecs = request.codecs
                self.seat.need_key = True
            return Noted()
        if not isinstance(request, NextRequest):
            return request  # pointer and camera messages: counted against the rate limit above; not grants
        if request.key:
            self.seat.need_key = True
        if request.painted is not None:
            self._record_paint(request.painted, now, wall)
        if self.outstanding + request.count > self.limits.max_outstanding:
            return Close(CLOSE_POLICY, f"more than {self.limits.max_outstanding} outstanding requests")
        for _ in range(request.count):
            self.grant(now)
        return Granted()

    def grant(self, now: float) -> None:
        """One more frame wanted: a ``next`` message, or (MJPEG) the previous part was acknowledged."""
        self.outstanding += 1
        self.requests += 1
        self.last_request = now

    # -- decisions out ------------------------------------------------------------------------------------
    @property
    def wants_frame(self) -> bool:
        return self.outstanding > 0

    def window(self, max_fps: float) -> CaptureWindow:
        """The frames this viewer may get next, by capture time, under the widget's cap and its own
        (``CaptureGrid``)."""
        caps = [cap for cap in (max_fps, self.own_cap) if cap > 0]
        self._grid.fps = min(caps) if caps else 0.0
        return self._grid.window()

    def capped(self, max_fps: float) -> bool:
        """Whether this viewer's frames are paced (the widget's cap or its own)."""
        return max_fps > 0 or self.own_cap > 0

    def picked(self, t_capture: float) -> None:
        """This viewer got the frame captured at ``t_capture``: its next one comes from the next slot."""
        self._grid.take(t_capture)

    def failed(self, key: Key) -> None:
        """Rendering frame ``key`` failed (the stream shows the error); the grant waits for a newer one."""
        self.last_key = key

    def sent(self, encoded: Encoded, now: float) -> None:
        """Frame ``encoded`` goes out against one grant."""
        key = (encoded.seq, encoded.rev)
        self.last_key = key
        self.outstanding -= 1
        self.codec = encoded.mime.rpartition("/")[2]
        self._sent.add(now)
        self._t_capture[key] = encoded.t_capture
        self._sent_at[key] = now
        # A viewer that never reports paints (MJPEG, a bare client) must not grow these.
        bound = 2 * self.limits.max_outstanding + 2
        for table in (self._t_capture, self._sent_at):
            if len(table) > bound:
                del table[next(iter(table))]

    def _record_paint(self, painted: Painted, now: float, wall: float) -> None:
        key = (painted.seq, painted.rev)
        self._painted.add(now)
        sent_at = self._sent_at.pop(key, None)
        if sent_at is not None:
            self._trips.append(now - sent_at)
        t_capture = self._t_capture.pop(key, None)
        if t_capture is not None:
            self._latencies.append((now, (wall - t_capture) * 1000.0))

    # -- reports ------------------------------------------------------------------------------------------
    def adapt(self, now: float, fps_source: float, max_fps: float) -> int:
        """One automatic-quality step (about once a second); a view asking for nothing (hidden, paused)
        holds its level. Returns the level to encode at."""
        active = now - self.last_request < 1.0
        cap = max_fps if max_fps > 0 else fps_source
        target = min(cap, fps_source) if active else 0.0
        trip = statistics.median(self._trips) if self._trips else None
        return self.quality.observe(now, self._painted.rate(now), target, trip)

    def wants_video(self, video_format: str) -> bool:
        """Whether this viewer gets video under the widget's format: "h264" for every viewer that decodes
        it; "auto" once it decodes it and could not keep up with images (``video_if_slow``)."""
        if not self.video_codecs:
            return False
        return video_format == "h264" or (video_format == "auto" and self.video_switched)

    @property
    def video_chroma(self) -> str:
        """The chroma format of this viewer's video: "444" when its decoder takes High 4:4:4 (it offered
        "h264-444"), else "420" (``_h264.CHROMA``)."""
        return "444" if "h264-444" in self.video_codecs else "420"

    def video_if_slow(self) -> bool:
        """format="auto": a viewer that decodes video and stepped below the top of the image quality ladder
        moves to video, starting at its best quality; True when it moved now."""
        if self.video_switched or not self.video_codecs or self.quality.level == 0:
            return False
        self.video_switched = True
        self.quality.reset()
        return True

    def recent_latencies(self, now: float) -> list[float]:
        """Capture-to-paint latencies (ms) of the paints reported in the last 2 s."""
        return [latency for at, latency in self._latencies if at > now - 2.0]

    def stats(self, now: float) -> dict[str, Any]:
        latencies = self.recent_latencies(now)
        return {
            "fps_sent": round(self._sent.rate(now), 2),
            "fps_painted": round(self._painted.rate(now), 2),
            "latency_ms": round(statistics.median(latencies), 1) if latencies else None,
            "outstanding": self.outstanding,
            "requests": self.requests,
            "quality_level": self.quality.level,
            "codec": self.codec,
        }
