"""The built-in moving test pattern, and block codes that survive JPEG so tests can read pixels.

A code is ``bits`` large black/white squares in a row; reading it back thresholds the centre of each square,
so lossy compression and scaling do not change the value.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ._frames import MAX_PIXELS, MAX_SIDE, Image


def draw_code(image: Image, value: int, bits: int = 24, x: int = 0, y: int = 0, block: int = 16) -> None:
    """Draw ``value`` (most significant bit first) as ``bits`` squares of ``block`` pixels at (x, y)."""
    white = 255 if image.ndim == 2 else (255,) * image.shape[2]
    black = 0 if image.ndim == 2 else (0,) * image.shape[2]
    for i in range(bits):
        on = (value >> (bits - 1 - i)) & 1
        x0 = x + i * block
        image[y : y + block, x0 : x0 + block] = white if on else black


def read_code(image: Image, bits: int = 24, x: int = 0, y: int = 0, block: int = 16) -> int:
    """Inverse of :func:`draw_code` for an image of the same scale (gray or colour)."""
    gray = image if image.ndim == 2 else image[..., :3].mean(axis=2)
    value = 0
    half = block // 2
    for i in range(bits):
        centre = gray[y + half - 2 : y + half + 2, x + i * block + half - 2 : x + i * block + half + 2]
        value = (value << 1) | int(float(np.mean(centre)) > 127)
    return value


class TestPattern:
    """A moving colour pattern with the frame number and clock drawn on it, plus a block code of ``seq``.

    Cheap by construction, so that making it is small next to encoding it: the moving gradient is a
    window of a precomputed tile (one copy, no arithmetic per pixel), and only the ball, the text band
    and the code are drawn per frame.
    """

    __test__ = False  # not a pytest class

    def __init__(self, width: int = 640, height: int = 480) -> None:
        if width < 64 or height < 48:
            raise ValueError(f"test pattern needs at least 64x48 pixels, got {width}x{height}")
        if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
            raise ValueError(
                f"test pattern of {width}x{height} pixels is too large: the limit is {MAX_SIDE} per side "
                f"and {MAX_PIXELS // (1024 * 1024)} Mpixels"
            )
        self.width = width
        self.height = height
        # Two periods of the gradient each way: any shift of it is a window of this tile (4 frames' memory).
        ramp_x = np.tile(np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8), 2)
        ramp_y = np.tile(np.linspace(0, 255, height, dtype=np.float32).astype(np.uint8), 2)
        self._tile = np.empty((2 * height, 2 * width, 3), np.uint8)
        self._tile[..., 0] = ramp_x
        self._tile[..., 1] = ramp_y[:, None]
        self._tile[..., 2] = 128
        self._scale = max(0.5, height / 480)
        self._band = int(34 * self._scale) + 8

    def frame(self, seq: int, t: float) -> Image:
        w, h = self.width, self.height
        # Shift by whole pixels per pass of the ramp, so a frame is slices, not per-pixel arithmetic.
        dx = int((t * 60.0) % 256 * w / 256)
        dy = int((t * 30.0) % 256 * h / 256)
        img = self._tile[dy : dy + h, dx : dx + w].copy()
        # A ball on a circle: motion you can judge smoothness by.
        cx = int(w / 2 + (w / 3) * math.cos(t * 2.0))
        cy = int(h / 2 + (h / 3) * math.sin(t * 2.0))
        cv2.circle(img, (cx, cy), max(8, h // 12), (255, 255, 255), -1, cv2.LINE_AA)
        # The frame number and clock, once, white on a dark band, at the right: the views' stats overlay
        # sits at the bottom left.
        img[h - self._band :, :] //= 4
        text = f"#{seq}  {time_text(t)}"
        font = cv2.FONT_HERSHEY_SIMPLEX
        width = cv2.getTextSize(text, font, self._scale, 1)[0][0]
        baseline = h - self._band // 2 + int(10 * self._scale)
        cv2.putText(img, text, (max(4, w - width - 16), baseline), font, self._scale, (255, 255, 255), 1)
        block = max(4, min(16, w // 32))
        draw_code(img, seq % (1 << 24), 24, 0, 0, block)
        return img


def time_text(t: float) -> str:
    import time as _time

    return _time.strftime("%H:%M:%S", _time.localtime(t)) + f".{int((t % 1) * 1000):03d}"
