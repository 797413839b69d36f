"""The one door into the server loop (``_door.LoopDoor``), on a real loop thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator

import pytest

from livecam_widget._door import LoopDoor, LoopGone
from tests.conftest import wait_for


@pytest.fixture
def door() -> Iterator[LoopDoor]:
    """A door onto a loop running in its own thread, shut and stopped after the test."""
    door = LoopDoor()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(lambda: (door.open(loop), ready.set()))
        loop.run_forever()

    thread = threading.Thread(target=run, name="test-loop")
    thread.start()
    assert ready.wait(5)
    yield door
    door.shut()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_call_runs_on_the_loop_thread_and_returns_its_result(door: LoopDoor) -> None:
    assert door.call(lambda: threading.current_thread().name) == "test-loop"
    assert door.call(lambda: None) is None  # a None result is a result, not "loop gone"


def test_call_raises_what_the_function_raised(door: LoopDoor) -> None:
    def boom() -> None:
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        door.call(boom)


def test_post_does_not_wait_and_logs_a_failure(door: LoopDoor, caplog: pytest.LogCaptureFixture) -> None:
    ran = threading.Event()

    def fails() -> None:
        ran.set()
        raise ValueError("posted and failed")

    with caplog.at_level(logging.ERROR, logger="livecam_widget.server"):
        assert door.post(fails) is True
        assert ran.wait(5)
        door.call(lambda: None)  # the loop has moved past the failure
    assert "posted and failed" in caplog.text and "fails" in caplog.text


def test_run_waits_for_a_coroutine_and_times_out_cleanly(door: LoopDoor) -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert door.run(answer, 5.0) == 42
    with pytest.raises(TimeoutError):
        door.run(lambda: asyncio.sleep(10), 0.05)
    wait_for(lambda: door.call(lambda: not [t for t in asyncio.all_tasks() if not t.done()]))  # cancelled


def test_a_shut_door_says_loop_gone_at_once(door: LoopDoor) -> None:
    door.shut()
    with pytest.raises(LoopGone, match="stopped"):
        door.call(lambda: 1)
    assert door.post(lambda: 1) is False
    coroutine_made = []

    async def never() -> None:
        coroutine_made.append(True)

    with pytest.raises(LoopGone):
        door.run(never, 1.0)
    assert not coroutine_made


def test_a_door_never_opened_says_loop_gone() -> None:
    door = LoopDoor()
    with pytest.raises(LoopGone):
        door.call(lambda: 1)
    assert door.post(lambda: 1) is False


def test_nudge_runs_on_the_loop_from_the_waker_and_the_waker_ends_with_the_door(door: LoopDoor) -> None:
    ran: list[str] = []
    done = threading.Event()
    door.nudge(lambda: (ran.append(threading.current_thread().name), done.set()))
    assert done.wait(5) and ran == ["test-loop"]
    waker = door._waker._thread
    assert waker is not None and waker.is_alive() and waker.name == "livecam-waker"
    door.call(door.shut)  # on the loop thread, as the server does (the fixture's shut after it is a no-op)
    assert not waker.is_alive()
    door.nudge(lambda: ran.append("late"))  # the loop is gone: nothing runs, nothing raises
    assert ran == ["test-loop"]
