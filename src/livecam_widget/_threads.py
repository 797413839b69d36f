"""One shape for every background thread: a loop method, a stop Event, idempotent start/stop, join on stop."""

from __future__ import annotations

import threading


class Worker:
    name = "livecam-worker"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def _loop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self) -> None:
        with self._guard:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            # Daemon: an unclosed widget must not keep the interpreter alive; an atexit hook closes them.
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the loop to end and wait for it; True if it ended (always True from the thread itself)."""
        with self._guard:
            thread = self._thread
            self._stop.set()
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        with self._guard:
            if self._thread is thread and not thread.is_alive():
                self._thread = None
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop.is_set()
