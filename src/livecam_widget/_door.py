"""The one door from other threads into the server's event loop.

Everything the loop owns (streams, viewers, the encode cache) is touched only on the loop thread, so it
needs no locks; other threads get in here and nowhere else:

- ``call(fn, *args)``: run ``fn`` on the loop and wait for its result (or its exception);
- ``post(fn, *args)``: run it without waiting; a failure is logged, never lost silently;
- ``run(make_coro)``: run a coroutine on the loop and wait for its result (a thread that serves a
  viewer, such as an MJPEG reader's, waits for frames this way);
- ``nudge(fn)``: post from a thread that must not wait for anything (the producer in ``update()``): the
  door's waker thread does the posting. Waking the loop is a write to its socket, and a thread that
  makes a system call lets go of the GIL; on a busy machine it then waits for the server's threads to
  give it back, up to the interpreter's switch interval (5 ms). Setting an Event keeps the GIL.

When the loop is gone (the server stopped, or is stopping), ``call`` and ``run`` raise :class:`LoopGone`
and ``post`` returns False: "loop gone" is never confused with a ``None`` result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ._threads import Worker

T = TypeVar("T")
log = logging.getLogger("livecam_widget.server")


class LoopGone(RuntimeError):
    """The livecam server's loop has stopped: the widget was closed or the kernel is shutting down."""

    def __init__(self) -> None:
        super().__init__("the livecam stream server has stopped (widget closed or kernel shutting down)")


class LoopDoor:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._waker = Waker(self.post)

    # -- the loop's own side ------------------------------------------------------------------------------
    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called on the loop thread once the loop runs."""
        self._loop = loop
        self._thread = threading.current_thread()
        self._waker.start()

    def shut(self) -> None:
        """Called on the loop thread as it ends: later calls raise LoopGone at once."""
        self._loop = None
        self._waker.stop()

    @property
    def is_open(self) -> bool:
        loop = self._loop
        return loop is not None and not loop.is_closed()

    @property
    def on_loop(self) -> bool:
        return threading.current_thread() is self._thread and self._loop is not None

    # -- other threads ------------------------------------------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 5.0) -> T:
        """Run ``fn(*args)`` on the loop thread and return its result; raises what it raised, LoopGone
        when the loop is gone, TimeoutError after ``timeout`` seconds."""
        if self.on_loop:
            return fn(*args)
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(fn(*args))
                except BaseException as exc:
                    done.set_exception(exc)

        self._schedule(run)
        try:
            return done.result(timeout)
        except concurrent.futures.TimeoutError:
            done.cancel()
            if not self.is_open:
                raise LoopGone() from None
            raise TimeoutError(f"the server loop did not run {_name(fn)} within {timeout:g} s") from None

    def post(self, fn: Callable[..., object], *args: Any) -> bool:
        """Run ``fn(*args)`` on the loop without waiting; False when the loop is gone."""

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("livecam: %s failed on the server loop", _name(fn))

        if self.on_loop:
            run()
            return True
        try:
            self._schedule(run)
        except LoopGone:
            return False
        return True

    def nudge(self, fn: Callable[[], object]) -> None:
        """Post ``fn()`` to the loop by way of the waker thread; this thread only sets an Event. Nudges of
        the same ``fn`` before it runs post it once. Nothing happens once the loop is gone."""
        self._waker.nudge(fn)

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
        """Run the coroutine ``make()`` on the loop and wait up to ``timeout`` seconds for its result;
        TimeoutError (the coroutine is cancelled) or LoopGone otherwise.

        The coroutine is made and cancelled on the loop thread, through this door: unlike
        ``asyncio.run_coroutine_threadsafe``, nothing here touches a loop that has closed meanwhile."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []

        def settle(task: asyncio.Task[T]) -> None:
            if task.cancelled():
                done.cancel()
            elif (error := task.exception()) is not None:
                done.set_exception(error)
            else:
                done.set_result(task.result())

        def start() -> None:
            task = asyncio.get_running_loop().create_task(make())
            tasks.append(task)
            task.add_done_callback(settle)

        self._schedule(start)
        try:
            return done.result(timeout)
        except concurrent.futures.TimeoutError:
            self.post(lambda: [task.cancel() for task in tasks])
            raise TimeoutError(f"no result within {timeout:g} s") from None
        except concurrent.futures.CancelledError:  # the loop cancelled it: it is shutting down
            raise LoopGone() from None

    def _schedule(self, run: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None:
            raise LoopGone()
        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop closed between the check and the call
            raise LoopGone() from None


class Waker(Worker):
    """The door's waker: posts what was nudged to the loop, from its own thread (``LoopDoor.nudge``)."""

    name = "livecam-waker"

    def __init__(self, post: Callable[[Callable[[], object]], bool]) -> None:
        super().__init__()
        self._post = post
        # An ordered set: a burst of nudges of one function before the waker runs posts it once.
        self._pending: dict[Callable[[], object], None] = {}
        self._pending_lock = threading.Lock()
        self._wake = threading.Event()

    def nudge(self, fn: Callable[[], object]) -> None:
        with self._pending_lock:
            self._pending[fn] = None
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> bool:
        self._stop.set()
        self._wake.set()  # out of its wait
        return super().stop(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            with self._pending_lock:
                pending, self._pending = self._pending, {}
            for fn in pending:
                self._post(fn)


def _name(fn: Callable[..., object]) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


_background: set[asyncio.Task[Any]] = set()


def cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel every task still on ``loop`` and let each one finish, before the loop closes (what
    ``asyncio.run`` does), so no task is destroyed pending and no waiter in another thread hangs."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def spawn(coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` as a task on the running loop (loop thread only), keeping a reference so the task is
    not collected mid-flight."""
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
