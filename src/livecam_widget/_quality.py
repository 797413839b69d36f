"""Automatic quality (``quality="auto"``): a fixed ladder of looks and a per-viewer controller; pure.

A viewer that cannot keep up with its frame rate steps down the ladder (JPEG quality first, then
resolution) and climbs back once it has headroom. The ladder is small and fixed so that viewers on the same
step share one encode per frame, as every viewer does without it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ._encoder import Settings


@dataclass(frozen=True)
class Step:
    quality: int
    scale: float


#: Best first. Quality costs the viewer little to give up; resolution only after it.
LADDER = (
    Step(85, 1.0),
    Step(70, 1.0),
    Step(55, 1.0),
    Step(40, 1.0),
    Step(40, 0.75),
    Step(40, 0.5),
)


def settings_at(base: Settings, level: int) -> Settings:
    """``base`` with the ladder's quality and scale for ``level`` (clamped to the ladder)."""
    step = LADDER[max(0, min(level, len(LADDER) - 1))]
    return dataclasses.replace(base, quality=step.quality, scale=step.scale)


def capped_settings_at(base: Settings, level: int) -> Settings:
    """A fixed quality's own ladder, for a viewer that adapts by itself (the comm transport): level 0 is
    ``base`` as the user set it, the levels below are the ladder's steps that cost less than it."""
    if level <= 0:
        return base
    below = [s for s in LADDER if s.quality < base.quality or s.scale < 1.0]
    step = below[min(level, len(below)) - 1]
    return dataclasses.replace(base, quality=min(step.quality, base.quality), scale=step.scale)


#: Seconds of headroom before a viewer of images climbs one step (a step costs nothing but the next frame).
IMAGE_UP_AFTER = 5.0


class QualityController:
    """Where one viewer stands on the ladder, moved by what it achieves.

    Down one step when it paints under ``slow`` x its target frame rate for ``down_after`` seconds; up one
    step when it reaches the target with headroom (a frame's trip, send to paint report, under ``headroom``
    x the frame interval) for ``up_after`` seconds. Each step re-arms the timer, so the effect of one step
    is seen before the next, and the headroom rule keeps a viewer that only just copes from flapping.
    """

    def __init__(
        self,
        *,
        down_after: float = 2.0,
        up_after: float = IMAGE_UP_AFTER,
        slow: float = 0.85,
        headroom: float = 0.5,
    ) -> None:
        self.level = 0
        self.down_after = down_after
        self.up_after = up_after
        self.slow = slow
        self.headroom = headroom
        self._slow_since: float | None = None
        self._roomy_since: float | None = None

    def reset(self) -> None:
        """Back to the top step with no history (a viewer changed what it is sent, e.g. to video)."""
        self.level = 0
        self._slow_since = self._roomy_since = None

    def observe(self, now: float, fps_painted: float, target_fps: float, trip_s: float | None) -> int:
        """One observation (about once a second); returns the level to encode at from now on.

        ``target_fps`` is what the viewer should reach (``max_fps``, or the source's rate when lower); 0
        means unknown or idle (a hidden or paused view), which holds the level.
        """
        if target_fps <= 0:
            self._slow_since = self._roomy_since = None
            return self.level
        slow = fps_painted < self.slow * target_fps
        roomy = not slow and trip_s is not None and trip_s < self.headroom / target_fps
        if slow:
            self._roomy_since = None
            self._slow_since = now if self._slow_since is None else self._slow_since
            if now - self._slow_since >= self.down_after and self.level < len(LADDER) - 1:
                self.level += 1
                self._slow_since = now
        elif roomy:
            self._slow_since = None
            self._roomy_since = now if self._roomy_since is None else self._roomy_since
            if now - self._roomy_since >= self.up_after and self.level > 0:
                self.level -= 1
                self._roomy_since = now
        else:
            self._slow_since = self._roomy_since = None
        return self.level
