"""Frames whose pixels say what they are; imported by the notebooks the browser tests run (kernel side).

The browser tests copy this file next to the notebooks they create, so a cell can ``from lc_frames import *``.
Every frame carries four rows of 24 block bits (see ``livecam_widget.draw_code``), 16 px high each:

    y=0   seq                       the producer's frame number
    y=16  capture time              int(time.time() * 1000) % 2**24, taken when the frame was made
    y=32  tag                       0 here; ``tagger(n)`` (a ``process``) overwrites it with n
    y=48  check                     seq ^ ms ^ 0x5A5A5A, so a torn or misread frame is rejected
"""

from __future__ import annotations

import time

import numpy as np

from livecam_widget import LiveFrame, draw_code

__all__ = ["CHECK", "Counter", "H", "LiveFrame", "W", "make", "tagger"]

W, H = 480, 240
CHECK = 0x5A5A5A
MASK = (1 << 24) - 1


def make(seq: int, t: float | None = None, tag: int = 0) -> np.ndarray:
    """A BGR frame with ``seq``, the capture time (now unless given) and ``tag`` drawn as block codes."""
    ms = int((time.time() if t is None else t) * 1000) & MASK
    seq &= MASK
    img = np.full((H, W, 3), (90, 60, 30), np.uint8)
    img[80:, :, 1] = (seq * 7) % 256  # a visibly changing picture, too
    draw_code(img, seq, y=0)
    draw_code(img, ms, y=16)
    draw_code(img, tag & MASK, y=32)
    draw_code(img, seq ^ ms ^ CHECK, y=48)
    return img


class Counter:
    """A callable source: every call makes the next frame, stamped with the time of the call."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> np.ndarray:
        self.n += 1
        return make(self.n)


def tagger(tag: int):
    """A ``process`` that writes ``tag`` into the tag row, leaving seq and time intact."""

    def process(frame: np.ndarray) -> np.ndarray:
        out = frame.copy()
        draw_code(out, tag, y=32)
        return out

    process.__name__ = f"tagger_{tag}"
    return process


#: Flat colour patches (BGR) for checking that a view paints colours as sent: primaries, gray, white, black,
#: a skin-like and a sky-like tone. ``with_patches`` draws patch i over x = 60 i .. 60 i + 60, y = 120 .. 240.
PATCHES = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (128, 128, 128), (30, 200, 90), (255, 255, 255), (0, 0, 0)]
PATCHES.append((200, 90, 40))

#: A page expression: the RGB at each patch's centre on the view's canvas (scaled to the canvas's size).
READ_PATCHES = """(() => {
  const canvas = document.querySelector('.livecam canvas');
  const g = canvas.getContext('2d');
  const y = Math.round((180 * canvas.height) / 240);
  return [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
    Array.from(g.getImageData(Math.round(((60 * i + 30) * canvas.width) / 480), y, 1, 1).data.slice(0, 3)));
})()"""


def with_patches(frame: np.ndarray) -> np.ndarray:
    """A ``process`` that paints PATCHES over the lower half of a W x H frame."""
    out = frame.copy()
    for i, colour in enumerate(PATCHES):
        out[120:240, 60 * i : 60 * i + 60] = colour
    return out


def patch_error(read: list[list[int]]) -> int:
    """The largest difference, in levels of any channel, between READ_PATCHES' answer and PATCHES."""
    wanted = [[r, g, b] for b, g, r in PATCHES]
    pairs = zip(np.ravel(wanted).tolist(), np.ravel(read).tolist(), strict=True)
    return max(abs(x - y) for x, y in pairs)
