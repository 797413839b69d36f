"""The encode cache and its picker thread: tickets in, encodes out, on a real loop with real encodes.

Views are plain objects here (the cache only needs something to tell them apart); ``process`` gates let a
test hold an encode where it wants it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest

from livecam_widget._encoder import Encoded, Failure, Look, Settings
from livecam_widget._encodes import EncodeCache
from livecam_widget._pacing import CaptureGrid
from livecam_widget._slot import LatestFrame
from livecam_widget._viewer import NOTHING_SENT
from tests.conftest import until

NOISE = np.random.default_rng(3).integers(0, 256, (48, 64, 3), np.uint8)


def picture(mark: int) -> np.ndarray:
    """Noise (so quality shows in the size), marked in its first byte (what the gates read)."""
    image = NOISE.copy()
    image[0, 0, 0] = mark
    return image


class Stage:
    """A cache on the running loop, with a look the test may change and gates on chosen frames."""

    def __init__(self, cache: EncodeCache, looks: list[Look], gates: dict[int, threading.Event]) -> None:
        self.cache = cache
        self.looks = looks
        self.gates = gates
        self.started: list[int] = []

    def put(self, mark: int) -> None:
        self.cache.slot.put(picture(mark))
        self.cache.frame_put()  # what Stream.notify does after every put

    def restyle(self, settings: Settings) -> None:
        self.looks.append(self.looks[-1].restyled(settings))
        self.cache.look_changed()


@asynccontextmanager
async def stage(
    look: Look | None = None, gated: tuple[int, ...] = (), clock: Callable[[], float] | None = None
) -> AsyncIterator[Stage]:
    gates = {mark: threading.Event() for mark in gated}
    looks: list[Look] = []
    started: list[int] = []

    def process(image: np.ndarray) -> np.ndarray:
        mark = int(image[0, 0, 0])
        started.append(mark)
        if mark in gates:
            assert gates[mark].wait(5.0)
        return image

    looks.append(look or Look(process=process, max_fps=0))
    if looks[0].process is None:
        looks[0] = looks[0].restyled(process=process)
    results: list[Any] = []
    cache = EncodeCache(
        LatestFrame() if clock is None else LatestFrame(clock), results.append, lambda: looks[-1]
    )
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        cache.attach(asyncio.get_running_loop(), pool)
        s = Stage(cache, looks, gates)
        s.started = started
        try:
            yield s
        finally:
            for gate in gates.values():
                gate.set()
            cache.close(RuntimeError("test over"))


async def settled(future: asyncio.Future[Any], timeout: float = 5.0) -> Any:
    return await asyncio.wait_for(asyncio.shield(future), timeout)


async def two_tickets_while_frame_1_encodes(s: Stage) -> tuple[asyncio.Future[Any], asyncio.Future[Any]]:
    """One view's two grants, and frame 1 put and held in its encode (``gated=(1,)``)."""
    view = object()
    tickets = s.cache.want(view, 0, NOTHING_SENT), s.cache.want(view, 0, NOTHING_SENT)
    s.put(1)
    await until(lambda: s.started == [1])
    return tickets


def test_no_ticket_no_encode_and_one_encode_answers_every_view_waiting_at_its_level() -> None:
    async def scenario() -> None:
        async with stage() as s:
            s.put(1)
            await asyncio.sleep(0.05)
            assert s.cache.encodes == 0 and not s.cache._picker.running  # nobody asked: no encode, no picker
            a, b = object(), object()
            ta, tb = s.cache.want(a, 0, NOTHING_SENT), s.cache.want(b, 0, NOTHING_SENT)
            first = await settled(ta)
            assert await settled(tb) is first and s.cache.encodes == 1 and first.seq == 1
            s.put(2)
            s.put(3)
            await asyncio.sleep(0.05)
            assert s.cache.encodes == 1  # frames nobody waits for are not encoded
            late = s.cache.want(object(), 0, NOTHING_SENT)
            assert (await settled(late)).seq == 3 and s.cache.encodes == 2  # the newest, not the cached 1

    asyncio.run(scenario())


def test_a_view_with_two_tickets_gets_consecutive_pictures_and_the_second_waits_for_a_new_frame() -> None:
    async def scenario() -> None:
        async with stage() as s:
            view = object()
            first, second = s.cache.want(view, 0, NOTHING_SENT), s.cache.want(view, 0, NOTHING_SENT)
            s.put(1)
            assert (await settled(first)).seq == 1
            await asyncio.sleep(0.05)
            assert not second.done()  # frame 1 was given; the second grant wants a newer one
            s.put(2)
            assert (await settled(second)).seq == 2 and s.cache.encodes == 2

    asyncio.run(scenario())


def test_the_next_encode_starts_when_the_previous_ends_and_takes_the_newest_frame() -> None:
    async def scenario() -> None:
        async with stage(gated=(1,)) as s:
            first, second = await two_tickets_while_frame_1_encodes(s)
            s.put(2)
            s.put(3)
            s.gates[1].set()
            assert (await settled(first)).seq == 1 and (await settled(second)).seq == 3
            assert s.started == [1, 3]  # frame 2 was overwritten before the picker was free

    asyncio.run(scenario())


def test_an_older_picture_is_never_given_after_a_newer_one() -> None:
    """A picture encoded for another caller (here: the loop-side ``encoded``, as an MJPEG reader uses)
    answers waiting tickets too; the older one the picker finishes later is then given to nobody."""

    async def scenario() -> None:
        async with stage(gated=(1,)) as s:
            first, second = await two_tickets_while_frame_1_encodes(s)
            s.put(2)
            frame_2 = s.cache.slot.peek()
            assert frame_2 is not None
            other = await s.cache.encoded(frame_2, s.looks[-1])
            assert (await settled(first)) is other and other.seq == 2
            s.gates[1].set()
            await until(lambda: s.cache.encodes == 2)
            await asyncio.sleep(0.05)
            assert not second.done()  # frame 1 is older than what the view has
            s.put(3)
            assert (await settled(second)).seq == 3

    asyncio.run(scenario())


def test_a_cancelled_ticket_is_withdrawn_and_costs_no_encode() -> None:
    async def scenario() -> None:
        async with stage() as s:
            view = object()
            ticket = s.cache.want(view, 0, NOTHING_SENT)
            ticket.cancel()
            await asyncio.sleep(0)
            s.put(1)
            await asyncio.sleep(0.05)
            assert s.cache.encodes == 0 and s.started == []
            forgotten = s.cache.want(view, 0, NOTHING_SENT)
            s.cache.forget(view)  # the view left
            assert forgotten.cancelled()
            s.put(2)
            await asyncio.sleep(0.05)
            assert s.cache.encodes == 0

    asyncio.run(scenario())


def test_close_ends_waiting_tickets_with_its_error_and_the_picker_thread() -> None:
    async def scenario() -> None:
        async with stage() as s:
            ticket = s.cache.want(object(), 0, NOTHING_SENT)
            assert s.cache._picker.running
            s.cache.close(LookupError("stream closed"))
            with pytest.raises(LookupError):
                await settled(ticket)
            assert not s.cache._picker.running
            with pytest.raises(LookupError):  # later grants hear the same
                await settled(s.cache.want(object(), 0, NOTHING_SENT))

    asyncio.run(scenario())


def test_a_new_look_makes_the_same_frame_a_new_picture_for_waiting_views() -> None:
    async def scenario() -> None:
        async with stage() as s:
            view = object()
            s.put(1)
            before = await settled(s.cache.want(view, 0, NOTHING_SENT))
            after = s.cache.want(view, 0, (before.seq, before.rev))
            await asyncio.sleep(0.05)
            assert not after.done()
            s.restyle(Settings(quality=30))
            restyled = await settled(after)
            assert (restyled.seq, restyled.rev) == (1, 1) and len(restyled.data) < len(before.data)

    asyncio.run(scenario())


def test_views_at_two_levels_get_one_encode_each_of_the_same_frame() -> None:
    async def scenario() -> None:
        async with stage(Look(settings=Settings(auto_quality=True), max_fps=0)) as s:
            top, low = s.cache.want(object(), 0, NOTHING_SENT), s.cache.want(object(), 3, NOTHING_SENT)
            s.put(1)
            a, b = await settled(top), await settled(low)
            assert isinstance(a, Encoded) and isinstance(b, Encoded)
            assert a.seq == b.seq == 1 and s.cache.encodes == 2 and len(b.data) < len(a.data)

    asyncio.run(scenario())


def test_a_failed_render_answers_the_ticket_with_the_failure() -> None:
    def broken(image: np.ndarray) -> np.ndarray:
        raise ValueError("bad frame")

    async def scenario() -> None:
        async with stage(Look(process=broken, max_fps=0)) as s:
            ticket = s.cache.want(object(), 0, NOTHING_SENT)
            s.put(1)
            failure = await settled(ticket)
            assert isinstance(failure, Failure) and "bad frame" in failure.message and s.cache.encodes == 0

    asyncio.run(scenario())


def test_a_capped_view_waits_for_a_frame_its_window_admits_or_for_the_window_to_open() -> None:
    """Under a cap a view's ticket carries its window (``CaptureGrid``): a frame captured too soon after its
    last picture is passed over, not encoded, until a later one comes; if none comes (the source stopped),
    the window opens by itself at its ``until`` and the newest frame goes."""

    async def scenario() -> None:
        now = [100.0]  # the capture clock
        async with stage(clock=lambda: now[0]) as s:
            view, grid = object(), CaptureGrid(10)  # slots 100 ms apart
            s.put(1)
            first = await settled(s.cache.want(view, 0, NOTHING_SENT, grid.window()))
            grid.take(first.t_capture)
            now[0] = 100.01
            s.put(2)  # 10 ms after the last: too soon
            ticket = s.cache.want(view, 0, (1, 0), grid.window())
            await asyncio.sleep(0.05)
            assert not ticket.done() and s.started == [1]
            now[0] = 100.1
            s.put(3)
            answer = await settled(ticket)
            assert answer.seq == 3 and s.started == [1, 3]
            grid.take(answer.t_capture)
            now[0] = 100.11
            s.put(4)  # too soon again, and then nothing more
            ticket = s.cache.want(view, 0, (3, 0), grid.window())
            await asyncio.sleep(0.05)
            assert not ticket.done()
            now[0] = 100.25  # half an interval past the slot at 100.2
            assert (await settled(ticket)).seq == 4  # the picker re-checks by itself at `until`

    asyncio.run(scenario())


def test_a_capped_view_gets_a_picture_another_view_had_encoded_once_its_window_ends() -> None:
    """Views share encodes: a picture made for one view but too soon for a capped one is not encoded again;
    the capped view gets it when its window ends, if no newer frame came (the source stopped)."""

    async def scenario() -> None:
        now = [100.0]
        async with stage(clock=lambda: now[0]) as s:
            free, capped, grid = object(), object(), CaptureGrid(10)
            s.put(1)
            first = await settled(s.cache.want(capped, 0, NOTHING_SENT, grid.window()))
            grid.take(first.t_capture)
            now[0] = 100.01
            s.put(2)
            held = s.cache.want(capped, 0, (1, 0), grid.window())
            assert (await settled(s.cache.want(free, 0, NOTHING_SENT))).seq == 2
            await asyncio.sleep(0.05)
            assert not held.done()  # too soon for the capped view
            now[0] = 100.15  # its window ends (half an interval past the slot at 100.1)
            assert (await settled(held)).seq == 2 and s.cache.encodes == 2

    asyncio.run(scenario())
