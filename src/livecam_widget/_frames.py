"""Frame validation and conversion to what the encoder takes.

Split in two on purpose: ``check_frame`` runs in ``LiveFrame.update()`` on the producer's thread and must
stay O(1) (shape and dtype only) so the producer never waits; ``to_display`` does the per-pixel work
(dtype scaling, channel order) later, on the encoder thread, only for frames someone will see.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[Any]

#: Largest side and pixel count accepted. Bigger frames would cost the kernel hundreds of MB per copy; cut
#: them to size first (``cv2.resize``) or set ``max_size`` on a smaller frame.
MAX_SIDE = 16384
MAX_PIXELS = 64 * 1024 * 1024

ACCEPTED = (
    "a numpy array shaped HxW (gray), HxWx1, HxWx3 (BGR; RGB with channels='rgb') or HxWx4 (BGRA/RGBA), "
    "dtype uint8, uint16, bool or float16/32/64 (values 0..1)"
)
_DTYPES = {np.dtype(t) for t in (np.uint8, np.uint16, np.bool_, np.float16, np.float32, np.float64)}
CHANNELS = ("bgr", "rgb")


def describe(obj: Any) -> str:
    if isinstance(obj, np.ndarray):
        return f"an array of shape {obj.shape} and dtype {obj.dtype}"
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def check_frame(obj: Any, what: str = "frame") -> Image:
    """Return ``obj`` as an ndarray if it is a displayable frame, else raise TypeError/ValueError.

    Array-likes (anything with ``__array__``, e.g. a PIL image or a CPU tensor) are accepted; lists are
    not, because a nested list is almost always a mistake and converting it is slow.
    """
    if not isinstance(obj, np.ndarray):
        if (
            obj is None
            or isinstance(obj, (str, bytes, list, tuple, dict, int, float))
            or not hasattr(obj, "__array__")
        ):
            raise TypeError(f"{what} must be {ACCEPTED}; got {describe(obj)}")
        obj = np.asarray(obj)
    if obj.dtype not in _DTYPES:
        raise TypeError(f"{what} has unsupported dtype {obj.dtype} (shape {obj.shape}); expected {ACCEPTED}")
    shape = obj.shape
    if obj.ndim not in (2, 3) or (obj.ndim == 3 and shape[2] not in (1, 3, 4)):
        raise ValueError(f"{what} has unsupported shape {shape} (dtype {obj.dtype}); expected {ACCEPTED}")
    height, width = shape[0], shape[1]
    if height == 0 or width == 0:
        raise ValueError(f"{what} is empty: shape {shape}; expected at least 1x1 pixels")
    if height > MAX_SIDE or width > MAX_SIDE or height * width > MAX_PIXELS:
        raise ValueError(
            f"{what} is too large: {width}x{height} pixels; the limit is {MAX_SIDE} per side and "
            f"{MAX_PIXELS // (1024 * 1024)} Mpixels (downscale it with cv2.resize first)"
        )
    return obj  # type: ignore[no-any-return]


def owned_copy(frame: Image) -> Image:
    """A private C-contiguous copy: the caller may reuse or mutate its buffer right after update()."""
    return np.array(frame, copy=True, order="C")


def to_uint8(frame: Image) -> Image:
    dtype = frame.dtype
    if dtype == np.uint8:
        return frame
    if dtype == np.bool_:
        return np.multiply(frame.view(np.uint8), np.uint8(255))
    if dtype == np.uint16:
        return (frame >> 8).astype(np.uint8)
    # float: 0..1 maps to 0..255; NaN shows black, +-inf clip to white/black. Clip before any narrowing
    # cast so huge float64 values cannot overflow.
    f = np.clip(frame.astype(np.float32) if dtype == np.float16 else frame, 0.0, 1.0)
    f = np.nan_to_num(f, copy=False, nan=0.0)
    out: Image = (f * 255.0 + 0.5).astype(np.uint8)
    return out


def to_display(frame: Image, channels: str = "bgr") -> Image:
    """uint8 HxW, HxWx3 BGR or HxWx4 BGRA, C-contiguous: what cv2.imencode takes."""
    out = to_uint8(frame)
    if out.ndim == 3 and out.shape[2] == 1:
        out = out[:, :, 0]
    if channels == "rgb" and out.ndim == 3:
        out = cv2.cvtColor(out, cv2.COLOR_RGB2BGR if out.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    return np.ascontiguousarray(out)


def fit(frame: Image, max_size: int) -> Image:
    """Downscale so the longest side is at most ``max_size`` (0: unchanged). INTER_AREA: no aliasing."""
    height, width = frame.shape[:2]
    longest = max(height, width)
    if max_size <= 0 or longest <= max_size:
        return frame
    scale = max_size / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
