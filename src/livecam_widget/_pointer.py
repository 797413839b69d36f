"""Pointer events from the views to the user's ``on_click`` / ``on_drag`` handlers, on a thread of their own.

Handlers are user code: they may be slow or raise. They run neither on the capture thread (the picture would
stall) nor on the server's loop (every view would stall), but here, one event at a time, in arrival order.
A handler that keeps up never loses an event; a backlog beyond ``max_pending`` drops the newest events
(counted in ``dropped``) rather than growing without bound.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

from ._encoder import describe_exception
from ._protocol import Pointer

Handler = Callable[..., Any]
_STOP = None


class PointerHandlers:
    """The registered handlers of one widget and the thread that calls them (started on first use)."""

    def __init__(self, on_error: Callable[[str | None], None], max_pending: int = 256) -> None:
        self._handlers: dict[str, list[Handler]] = {"click": [], "drag": []}
        self._on_error = on_error
        self._queue: queue.Queue[Pointer | None] = queue.Queue(max_pending)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._failed = False  # the last handler call raised: the next good one clears the error
        self.dropped = 0

    def register(self, event: str, fn: Handler, remove: bool = False) -> None:
        """Add ``fn`` for ``event`` ("click" or "drag"), or take it away (like ipywidgets' on_click)."""
        if not callable(fn):
            raise TypeError(f"on_{event} needs a callable, got {type(fn).__name__}")
        with self._lock:
            handlers = self._handlers[event]
            if remove:
                if fn in handlers:
                    handlers.remove(fn)
            elif fn not in handlers:
                handlers.append(fn)

    def dispatch(self, pointer: Pointer) -> None:
        """Hand an event over without waiting (called on the server's loop)."""
        with self._lock:
            if self._closed or not self._handlers[pointer.event]:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="livecam-pointer", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(pointer)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is None:
            return
        while True:  # make room for the stop marker: pending events are not worth waiting for
            try:
                self._queue.put_nowait(_STOP)
                break
            except queue.Full:
                self._drain_one()
        if thread is not threading.current_thread():
            thread.join(timeout)

    def _drain_one(self) -> None:
        with contextlib.suppress(queue.Empty):
            self._queue.get_nowait()

    def _run(self) -> None:
        while True:
            pointer = self._queue.get()
            if pointer is _STOP:
                return
            with self._lock:
                handlers = list(self._handlers[pointer.event])
            for fn in handlers:
                self._call(fn, pointer)

    def _call(self, fn: Handler, pointer: Pointer) -> None:
        try:
            if pointer.event == "click":
                fn(pointer.x0, pointer.y0, pointer.button)
            else:
                fn(*rectangle(pointer))
        except Exception as exc:
            self._failed = True
            self._on_error(describe_exception(f"on_{pointer.event} handler", exc))
        else:
            if self._failed:
                self._failed = False
                self._on_error(None)


def rectangle(pointer: Pointer) -> tuple[int, int, int, int]:
    """The dragged rectangle as ``x0, y0, x1, y1`` with x0 <= x1 and y0 <= y1, whichever way it was drawn."""
    return (
        min(pointer.x0, pointer.x1),
        min(pointer.y0, pointer.y1),
        max(pointer.x0, pointer.x1),
        max(pointer.y0, pointer.y1),
    )
