"""The loop-side drivers over a stream, with a recording channel instead of a socket (deterministic).

``RecordingViewer`` is a ``LoopViewer`` whose bytes go into lists: the driver's decisions (what is sent,
when a grant is spent, when it closes) are checked on a real loop and real encodes, with no network and
no pacing sleeps (``max_fps=0``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np

from livecam_widget._door import LoopDoor
from livecam_widget._drivers import CommRouter, LoopViewer
from livecam_widget._encoder import Look, Settings
from livecam_widget._origin import OriginPolicy
from livecam_widget._pacing import CaptureWindow
from livecam_widget._protocol import CLOSE_POLICY, Pointer
from livecam_widget._slot import LatestFrame
from livecam_widget._stream import Stream
from livecam_widget._viewer import NOTHING_SENT, Limits
from tests.conftest import FakeClock, until

NOISE = np.random.default_rng(7).integers(0, 256, (96, 128, 3), np.uint8)


class RecordingViewer(LoopViewer):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.frames: list[tuple[dict[str, Any], bytes]] = []
        self.texts: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    async def send_frame(self, header: dict[str, Any], data: bytes) -> None:
        self.frames.append((header, data))

    def send_text(self, text: str) -> None:
        self.texts.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        await self.end()


@asynccontextmanager
async def attached(
    look: Look, now: float | None = None, slot: LatestFrame | None = None, **kwargs: Any
) -> AsyncIterator[Stream]:
    stream = Stream(slot or LatestFrame(), look, OriginPolicy(env=""), **kwargs)
    door = LoopDoor()
    door.open(asyncio.get_running_loop())
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        stream.attach(door, asyncio.get_running_loop(), pool, time.monotonic() if now is None else now)
        yield stream
        stream.detach()
        door.shut()


def viewer(
    stream: Stream, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic
) -> RecordingViewer:
    return RecordingViewer(stream, limits or Limits(), clock, time.time)


def test_one_frame_per_grant_newest_first_and_no_repeats() -> None:
    async def scenario() -> None:
        async with attached(Look(max_fps=0)) as stream:
            v = viewer(stream)
            v.begin()
            assert v.texts[0]["type"] == "hello" and v in stream.viewers
            stream.slot.put(NOISE)
            stream.slot.put(NOISE)  # the newest of the two is what a grant gets
            await v.handle('{"type":"next"}')
            await until(lambda: v.frames)
            assert v.frames[0][0]["seq"] == 2 and v.core.outstanding == 0
            await v.handle('{"type":"next"}')
            await asyncio.sleep(0.05)
            assert len(v.frames) == 1  # nothing newer: the grant waits
            stream.slot.put(NOISE)
            await until(lambda: len(v.frames) == 2)
            assert v.frames[1][0]["seq"] == 3
            await v.end()
            assert v not in stream.viewers

    asyncio.run(scenario())


def test_a_viewer_with_two_grants_gets_the_next_encode_started_the_moment_the_previous_one_ends() -> None:
    """The picker: with two grants, frame 1 encodes while frames 2 and 3 come; the moment it is done the
    picker encodes frame 3 (the newest; 2 was overwritten), without waiting for frame 1 to be sent. With
    no grant left nothing is encoded; one grant later, one encode of the newest frame."""
    gates = {mark: threading.Event() for mark in (1, 2, 3, 4)}
    started: list[int] = []

    def process(image: np.ndarray) -> np.ndarray:
        mark = int(image[0, 0, 0])
        started.append(mark)
        assert gates[mark].wait(5.0)
        return image

    def frame(mark: int) -> np.ndarray:
        return np.full((32, 32, 3), mark, np.uint8)

    class HeldSend(RecordingViewer):
        """Its first send blocks until released: the next encode must not wait for it."""

        release = asyncio.Event()

        async def send_frame(self, header: dict[str, Any], data: bytes) -> None:
            if not self.frames:
                self.frames.append((header, data))
                await self.release.wait()
                return
            await super().send_frame(header, data)

    async def scenario() -> None:
        async with attached(Look(max_fps=0, process=process)) as stream:
            v = HeldSend(stream, Limits(), time.monotonic, time.time)
            v.begin()
            stream.slot.put(frame(1))
            await v.handle('{"type":"next"}')
            await v.handle('{"type":"next"}')
            await until(lambda: started == [1])
            stream.slot.put(frame(2))
            stream.slot.put(frame(3))
            gates[1].set()
            await until(lambda: started == [1, 3])  # the newest, while frame 1's send is still held
            assert [header["seq"] for header, _ in v.frames] == [1]
            gates[3].set()
            HeldSend.release.set()
            await until(lambda: len(v.frames) == 2)
            assert v.frames[1][0]["seq"] == 3 and v.core.outstanding == 0
            stream.slot.put(frame(4))
            await asyncio.sleep(0.05)
            assert started == [1, 3]  # no grant, no encode
            stream.slot.put(frame(4))
            await v.handle('{"type":"next"}')
            gates[4].set()
            await until(lambda: len(v.frames) == 3)
            await asyncio.sleep(0.05)
            assert v.frames[2][0]["seq"] == 5 and started == [1, 3, 4] and stream.cache.encodes == 3
            await v.end()

    asyncio.run(scenario())


def test_a_capped_viewer_waits_with_one_ticket_and_an_uncapped_one_with_every_grant() -> None:
    """Without a cap a viewer's grants all wait at the picker (the next encode starts the moment the
    previous one ends); under a cap one at a time, so a stalled source that resumes cannot answer two
    waiting grants with two frames in a row, closer than 1/max_fps."""

    async def waiting(max_fps: float) -> int:
        async with attached(Look(max_fps=max_fps)) as stream:
            v = viewer(stream)
            v.begin()
            await v.handle('{"type":"next","n":3}')
            await asyncio.sleep(0.05)  # no frame yet: the grants wait
            hunger = stream.cache._hunger.get(v)
            count = len(hunger.tickets) if hunger is not None else 0
            await v.end()
            return count

    async def scenario() -> None:
        assert await waiting(0) == 3
        assert await waiting(30) == 1

    asyncio.run(scenario())


def test_a_rule_break_closes_only_that_viewer() -> None:
    async def scenario() -> None:
        async with attached(Look(max_fps=0)) as stream:
            bad, good = viewer(stream, Limits(max_outstanding=1)), viewer(stream)
            bad.begin()
            good.begin()
            assert await bad.handle('{"type":"next"}')
            assert not await bad.handle('{"type":"next"}')
            assert bad.closed == (CLOSE_POLICY, "more than 1 outstanding requests")
            await good.handle('{"type":"next"}')
            stream.slot.put(NOISE)
            await until(lambda: good.frames)
            assert stream.viewers == {good}
            await good.end()

    asyncio.run(scenario())


def test_the_level_a_viewer_is_on_decides_its_encode_and_levels_share() -> None:
    async def scenario() -> None:
        async with attached(Look(settings=Settings(auto_quality=True), max_fps=0)) as stream:
            top, low, low2 = viewer(stream), viewer(stream), viewer(stream)
            low.core.quality.level = low2.core.quality.level = 5
            for v in (top, low, low2):
                v.begin()
                await v.handle('{"type":"next"}')
            stream.slot.put(NOISE)
            await until(lambda: all(v.frames for v in (top, low, low2)))
            assert len(low.frames[0][1]) < len(top.frames[0][1])
            assert low.frames[0][1] == low2.frames[0][1]
            assert low.frames[0][0]["full_width"] == 128 and low.frames[0][0]["width"] == 64
            assert stream.cache.encodes == 2  # one per level, not one per viewer
            for v in (top, low, low2):
                await v.end()

    asyncio.run(scenario())


def test_pointer_messages_reach_the_stream_s_handler() -> None:
    got: list[Pointer] = []

    async def scenario() -> None:
        async with attached(Look(max_fps=0), on_pointer=got.append) as stream:
            v = viewer(stream)
            v.begin()
            assert await v.handle('{"type":"pointer","event":"drag","x0":1,"y0":2,"x1":3,"y1":4}')
            assert not v.core.wants_frame
            await v.end()

    asyncio.run(scenario())
    assert got == [Pointer("drag", 1, 2, 3, 4, 0)]


def test_comm_viewers_open_serve_and_close_by_view_id() -> None:
    sent: list[tuple[dict[str, Any], list[bytes]]] = []

    async def scenario() -> None:
        async with attached(Look(max_fps=0)) as stream:
            router = CommRouter(stream, lambda c, b: sent.append((c, b)), Limits(), time.monotonic, time.time)
            router.message("v1", {"livecam": "open"})
            router.message("v1", {"livecam": "message", "text": '{"type":"next"}'})
            router.message("v2", {"livecam": "message", "text": '{"type":"next"}'})  # never opened: ignored
            stream.slot.put(NOISE)
            await until(lambda: any(c["livecam"] == "frame" for c, _ in sent))
            frame = next((c, b) for c, b in sent if c["livecam"] == "frame")
            assert frame[0]["view"] == "v1" and frame[0]["header"]["seq"] == 1 and len(frame[1]) == 1
            assert len(stream.viewers) == 1
            router.message("v1", {"livecam": "close"})
            await until(lambda: not stream.viewers)

    asyncio.run(scenario())
    assert sent[0][0] == {"livecam": "text", "view": "v1", "text": sent[0][0]["text"]}
    assert json.loads(sent[0][0]["text"])["type"] == "hello"


def test_closing_the_stream_says_closed_and_ends_every_viewer() -> None:
    async def scenario() -> None:
        async with attached(Look(max_fps=0)) as stream:
            views = [viewer(stream) for _ in range(3)]
            for v in views:
                v.begin()
            stream.detach()
            await until(lambda: all(v.closed for v in views))
            assert {v.closed for v in views} == {(1001, "widget closed")}
            assert all(v.texts[-1] == {"type": "status", "state": "closed", "error": None} for v in views)

    asyncio.run(scenario())


async def paint_at(
    stream: Stream, clock: FakeClock, viewers: list[tuple[RecordingViewer, int]], seconds: int
) -> None:
    """``seconds`` of a 30 fps source on the fake clock (capture times too), the stats tick once a second;
    each viewer reports the frame it has as painted and asks for the next on every ``every``-th source
    frame, and gets it."""
    for _second in range(seconds):
        for i in range(30):
            seq = stream.slot.put(NOISE, 1.7e9 + clock())
            for v, every in viewers:
                if i % every == 0:
                    painted = {"seq": v.core.last_key[0], "rev": 0}
                    await v.handle(json.dumps({"type": "next", "painted": painted}))
                    await until(lambda v=v, seq=seq: v.core.last_key[0] == seq)
            clock.advance(1 / 30)
        stream.tick(clock())


def test_at_a_fixed_quality_only_a_viewer_that_adapts_steps_down(clock: FakeClock) -> None:
    """quality=80 (not "auto"): a slow viewer that adapts by itself (as every comm viewer does) steps below
    it, a slow one that does not keeps it; the adapting viewer's smaller frames are its own encodes."""

    async def scenario() -> None:
        async with attached(Look(settings=Settings(quality=80), max_fps=30), now=clock()) as stream:
            comm, plain = viewer(stream, clock=clock), viewer(stream, clock=clock)
            comm.core.adaptive = True
            for v in (comm, plain):
                v.begin()
            await paint_at(stream, clock, [(comm, 8), (plain, 8)], seconds=8)  # both 4 fps of 30
            assert comm.core.quality.level >= 2 and plain.core.quality.level == 0
            assert len(comm.frames[-1][1]) < len(plain.frames[-1][1])
            for v in (comm, plain):
                await v.end()

    asyncio.run(scenario())


def test_the_stats_tick_reports_and_steps_a_slow_viewer_down(clock: FakeClock) -> None:
    """The once-a-second tick, on a fake clock: 30 fps in, one viewer painting 4 fps, one keeping up."""
    reports: list[tuple[str, Any]] = []

    async def scenario() -> None:
        look = Look(settings=Settings(auto_quality=True), max_fps=30)
        async with attached(look, now=clock(), listener=lambda n, v: reports.append((n, v))) as stream:
            slow, fast = viewer(stream, clock=clock), viewer(stream, clock=clock)
            for v in (slow, fast):
                v.begin()
            await paint_at(stream, clock, [(fast, 1), (slow, 8)], seconds=8)
            assert slow.core.quality.level >= 2 and fast.core.quality.level == 0
            assert slow.texts[-1]["type"] == "stats" and slow.texts[-1]["quality_level"] >= 2
            for v in (slow, fast):
                await v.end()

    asyncio.run(scenario())
    stats = [value for name, value in reports if name == "stats"]
    assert len(stats) == 8 and stats[-1]["fps_source"] == 30.0 and stats[-1]["clients"] == 2


def test_wait_frame_passes_over_a_frame_its_window_holds_back_until_the_window_ends() -> None:
    """The video and MJPEG path of a capped viewer: a frame captured too soon after its last one is not
    taken while the window holds it back; once the window's ``until`` passes, it is (the source stopped);
    with no newer frame at all, only a put ends the wait."""

    async def scenario() -> None:
        now = [100.0]  # the capture clock
        async with attached(Look(max_fps=0), slot=LatestFrame(lambda: now[0])) as stream:
            stream.slot.put(NOISE)  # captured at 100.0
            window = CaptureWindow(opens=100.1, until=100.15, last=-math.inf)
            waiting = asyncio.ensure_future(stream.wait_frame(NOTHING_SENT, window))
            await asyncio.sleep(0.03)
            assert not waiting.done()  # held back by the window
            now[0] = 100.15  # the window ends; the wait re-checks by itself
            assert (await asyncio.wait_for(waiting, 5)).seq == 1
            assert stream._held_for((1, 0), window) is None  # nothing newer: wait for a put, no timer

    asyncio.run(scenario())
