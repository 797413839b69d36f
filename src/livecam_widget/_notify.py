"""Trait updates (``stats``, ``error``, ``state``) delivered to the widget from a thread of its own.

Setting a trait runs the user's observers (``lf.observe(fn, "stats")``) on the setting thread. Done on the
server's loop, one slow observer would freeze every view of every widget in the kernel; done on the
capture thread, it would stall the picture. So the loop and the capture thread only *post* here, and each
widget's notifier thread delivers: a slow or raising observer delays nothing but its own widget's
notifications.

Updates coalesce by name: while an observer is busy, a newer ``stats`` replaces the one waiting, so a slow
observer sees fewer, fresher reports instead of a backlog (the same rule as the frame slot).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ._threads import Worker

log = logging.getLogger("livecam_widget")
Deliver = Callable[[str, Any], None]


class Notifier(Worker):
    name = "livecam-notify"

    def __init__(self, deliver: Deliver) -> None:
        super().__init__()
        self._deliver = deliver
        self._pending: dict[str, Any] = {}
        self._wake = threading.Condition()
        self._closed = False

    def post(self, name: str, value: Any) -> None:
        """Deliver ``value`` as trait ``name`` soon (replacing one of the same name not yet delivered).
        Cheap and never blocks on user code: safe from the server's loop. Started on first use."""
        with self._wake:
            if self._closed:
                return
            self._pending[name] = value
            self._wake.notify()
        self.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop delivering; what is still pending is dropped (the widget is going away)."""
        with self._wake:
            self._closed = True
            self._pending.clear()
            self._wake.notify()
        self.stop(timeout)

    def stop(self, timeout: float = 5.0) -> bool:
        with self._wake:
            self._stop.set()
            self._wake.notify()
        return super().stop(timeout)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stop.is_set():
                    self._wake.wait()
                if self._stop.is_set():
                    return
                batch, self._pending = self._pending, {}
            for name, value in batch.items():
                try:
                    self._deliver(name, value)
                except Exception:
                    log.exception("livecam: an observer of %r raised", name)
