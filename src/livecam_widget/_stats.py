"""A stream's once-a-second report (``lf.stats`` and the views' overlay); pure over an injected clock.

Rates are counts over the time since the previous report, so :meth:`StreamStats.report` is meant to be
called once per tick (the server's stats loop does).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from ._encoder import Encoded
from ._status import Status
from ._viewer import ViewerCore

#: The rates a closed stream reports: nothing flows any more.
ZEROED: dict[str, Any] = {
    "fps_source": 0.0,
    "fps_sent": 0.0,
    "fps_painted": 0.0,
    "latency_ms": None,
    "latency_ms_p95": None,
    "clients": 0,
    "encodes_per_s": 0.0,
    "viewers": [],
}


def closed_report(last: dict[str, Any]) -> dict[str, Any]:
    """``lf.stats`` once closed: the counts it ended with, the rates at zero, the state "closed"."""
    return {**last, **ZEROED, "state": "closed"}


class StreamStats:
    def __init__(self) -> None:
        self._prev: tuple[float, int, int] | None = None
        #: Frames per second entering the slot, as of the last report (automatic quality's ceiling).
        self.fps_source = 0.0

    def start(self, now: float, frames: int, encodes: int) -> None:
        """The counts at ``now``, so that the first report has real rates."""
        self._prev = (now, frames, encodes)

    def report(
        self,
        now: float,
        *,
        status: Status,
        frames: int,
        dropped: int,
        encodes: int,
        last: Encoded | None,
        viewers: Sequence[ViewerCore],
    ) -> dict[str, Any]:
        prev = self._prev
        self._prev = (now, frames, encodes)
        dt = now - prev[0] if prev else 0.0
        fps_source = (frames - prev[1]) / dt if prev and dt > 0 else 0.0
        self.fps_source = fps_source
        encodes_per_s = (encodes - prev[2]) / dt if prev and dt > 0 else 0.0
        each = [viewer.stats(now) for viewer in viewers]
        latencies = [lat for viewer in viewers for lat in viewer.recent_latencies(now)]
        return {
            "state": status.state,
            "error": status.shown_error,
            "frames": frames,
            "fps_source": round(fps_source, 2),
            "fps_sent": round(sum(v["fps_sent"] for v in each), 2),
            "fps_painted": round(sum(v["fps_painted"] for v in each), 2),
            "latency_ms": round(statistics.median(latencies), 1) if latencies else None,
            "latency_ms_p95": round(_p95(latencies), 1) if latencies else None,
            "dropped": dropped,
            "clients": len(each),
            "encodes_per_s": round(encodes_per_s, 2),
            "encode_ms": round(last.encode_ms, 2) if last else None,
            "bytes_per_frame": len(last.data) if last else None,
            "frame_size": [last.width, last.height] if last else None,
            "viewers": each,
        }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
