"""The rules of the live settings, in one place and pure (no imports, so the command line stays quick).

The widget's trait validators and the command line's option parser both call these; each adds the name the
user typed (``quality`` or ``--quality``) to the ``ValueError``'s text, which says what is accepted.
"""

from __future__ import annotations


def checked_max_fps(value: object) -> float:
    """A frame-rate cap: a finite number >= 0 (0: no cap); ValueError saying what is accepted."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if not number >= 0 or number == float("inf"):
        raise ValueError(f"must be a finite number >= 0, 0 (no cap), got {value!r}")
    return number


def checked_quality(value: object) -> int | str:
    """JPEG quality: a whole number 1..100, or "auto"; ValueError saying what is accepted."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        number = 0 if isinstance(value, bool) else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= 100 or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"must be a whole number 1..100 or 'auto', got {value!r}")
    return number


def checked_max_size(value: object) -> int:
    """The longest side to downscale to: 0 (keep the size) or at least 16 pixels."""
    try:
        number: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = -1
    if number < 0 or 0 < number < 16:
        raise ValueError(f"must be 0 (keep the size) or at least 16 pixels, got {value!r}")
    return number
