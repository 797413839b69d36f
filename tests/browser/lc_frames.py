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
