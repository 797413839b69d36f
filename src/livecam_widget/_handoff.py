"""Comm messages sent by the thread that handled the request they answer, where the frontend needs that.

Google Colab has been reported to hold back widget messages a kernel sends from a background thread
(googlecolab/colabtools#3373: they show only once a cell sends something), and every comm frame leaves from
the server's thread. So, in Colab (or when ``LIVECAM_COMM_FROM_HANDLER=1`` asks for it), the kernel thread
that handles a view's request waits a moment for the answer and sends it itself: a request handler enters
:meth:`HandlerSend.answer`, and while it waits, whatever the server sends to the comm is handed to it
instead of going out from the server's thread. What comes when no handler waits goes out at once, from
the server's thread, as everywhere else: a source that has no new frame never stalls the view's pipeline
behind a handler that gave up.

The wait is bounded (``hold``, 0.1 s): without kernel subshells, requests are handled on the kernel's main
thread between cells, and a cell run then starts at most that much later.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ._drivers import CommSend

#: How long a request's handler waits for its answer.
HOLD_S = 0.1


def wanted(environ: Mapping[str, str] = os.environ, modules: Mapping[str, Any] = sys.modules) -> bool:
    """Whether comm answers should leave from the handling thread: in Colab, or when asked for."""
    asked = environ.get("LIVECAM_COMM_FROM_HANDLER", "").strip().lower()
    if asked in ("1", "true", "yes", "on"):
        return True
    if asked in ("0", "false", "no", "off"):
        return False
    return "google.colab" in modules


def is_grant(text: object) -> bool:
    """Whether a view's protocol message is a grant (``next``), the one kind of request a frame answers."""
    if not isinstance(text, str) or len(text) > 4096:
        return False
    try:
        message = json.loads(text)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("type") == "next"


class HandlerSend:
    """A comm ``send`` (for the server's thread) and ``answer`` (for a request's handling thread)."""

    def __init__(self, send: CommSend, hold: float | None = None) -> None:
        self._send = send
        self.hold = HOLD_S if hold is None else hold
        self._cond = threading.Condition()
        #: Held while sending, taken before ``_cond`` is let go: messages leave in the order they came.
        self._order = threading.Lock()
        self._waiting = 0
        self._handed: list[tuple[dict[str, Any], list[bytes]]] = []
        #: Messages the handling threads sent, and all messages (for stats and tests).
        self.sent_by_handler = 0
        self.sent = 0

    def __call__(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        """Send from any thread: to a waiting handler if there is one, else at once."""
        with self._cond:
            self.sent += 1
            if self._waiting:
                self._handed.append((content, buffers))
                self._cond.notify_all()
                return
            self._order.acquire()
        try:
            self._send(content, buffers)
        finally:
            self._order.release()

    def answer(self, view: str, kinds: tuple[str, ...], request: Callable[[], object] | None = None) -> None:
        """On the thread that handled a request from ``view``: wait up to ``hold`` for that view's answer (a
        message of one of ``kinds``, or its close), then send whatever was handed over meanwhile, in order.
        ``request`` (passing the request on to the server) runs once this thread counts as waiting: an
        answer can come within a millisecond, and one sent before the wait began would leave from the
        server's thread while this one waited the whole hold for it."""
        with self._cond:
            self._waiting += 1
        try:
            if request is not None:
                request()
            with self._cond:
                self._cond.wait_for(lambda: self._answered(view, kinds), timeout=self.hold)
        finally:
            with self._cond:
                self._waiting -= 1
                handed, self._handed = self._handed, []
                self.sent_by_handler += len(handed)
                self._order.acquire()
        try:
            for content, buffers in handed:
                self._send(content, buffers)
        finally:
            self._order.release()

    def _answered(self, view: str, kinds: tuple[str, ...]) -> bool:
        return any(c.get("view") == view and c.get("livecam") in (*kinds, "close") for c, _ in self._handed)
