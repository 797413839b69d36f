"""Pointer events: the wire message, the handler thread, and a click/drag from a client reaching Python."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from livecam_widget import LiveFrame
from livecam_widget._encoder import Look, Settings
from livecam_widget._origin import OriginPolicy
from livecam_widget._pointer import PointerHandlers, rectangle
from livecam_widget._protocol import CLOSE_POLICY, PATH_PREFIX, Pointer, ProtocolError, parse_client_message
from livecam_widget._server import FrameServer
from livecam_widget._slot import LatestFrame
from livecam_widget._stream import Stream
from livecam_widget._viewer import Limits
from livecam_widget.client import FrameClient
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("no_leaks")


def test_pointer_messages_parse_to_clicks_and_drags() -> None:
    click = parse_client_message('{"type":"pointer","event":"click","x":3,"y":4,"button":2,"extra":1}')
    assert click == Pointer("click", 3, 4, 3, 4, 2)
    drag = parse_client_message('{"type":"pointer","event":"drag","x0":9,"y0":8,"x1":1,"y1":2}')
    assert drag == Pointer("drag", 9, 8, 1, 2, 0)
    assert rectangle(drag) == (1, 2, 9, 8)


@pytest.mark.parametrize(
    "fields",
    [
        {"event": "click", "x": 1},
        {"event": "click", "x": -1, "y": 0},
        {"event": "click", "x": 1.5, "y": 0},
        {"event": "click", "x": True, "y": 0},
        {"event": "click", "x": 70000, "y": 0},
        {"event": "click", "x": 1, "y": 1, "button": 9},
        {"event": "click", "x": 1, "y": 1, "button": "left"},
        {"event": "drag", "x0": 1, "y0": 1, "x1": 2},
        {"event": "wheel", "x": 1, "y": 1},
        {},
    ],
)
def test_malformed_pointer_messages_are_policy_violations(fields: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(json.dumps({"type": "pointer", **fields}))
    assert info.value.code == CLOSE_POLICY


def test_handlers_run_on_their_own_thread_in_order_and_can_be_removed() -> None:
    errors: list[str | None] = []
    handlers = PointerHandlers(errors.append)
    seen: list[tuple[Any, ...]] = []
    done = threading.Event()

    def on_click(x: int, y: int, button: int) -> None:
        seen.append(("click", x, y, button, threading.current_thread().name))

    def on_drag(*rect: int) -> None:
        seen.append(("drag", *rect))
        done.set()

    handlers.register("click", on_click)
    handlers.register("click", on_click)  # twice is once, as in ipywidgets
    handlers.register("drag", on_drag)
    handlers.dispatch(Pointer("click", 5, 6, 5, 6, 0))
    handlers.dispatch(Pointer("drag", 10, 10, 2, 3, 0))
    assert done.wait(5)
    assert seen == [("click", 5, 6, 0, "livecam-pointer"), ("drag", 2, 3, 10, 10)]
    handlers.register("click", on_click, remove=True)
    handlers.dispatch(Pointer("click", 1, 1, 1, 1, 0))
    handlers.dispatch(Pointer("drag", 0, 0, 1, 1, 0))
    wait_for(lambda: len(seen) == 3)
    assert seen[-1][0] == "drag" and errors == []
    handlers.close()


def test_a_failing_handler_is_reported_and_the_next_good_call_clears_it() -> None:
    errors: list[str | None] = []
    handlers = PointerHandlers(errors.append)
    fail = True

    def flaky(x: int, y: int, button: int) -> None:
        if fail:
            raise ValueError("bad pixel 77")

    handlers.register("click", flaky)
    handlers.dispatch(Pointer("click", 1, 1, 1, 1, 0))
    wait_for(lambda: errors)
    assert errors[0] is not None and "on_click handler raised ValueError: bad pixel 77" in errors[0]
    fail = False
    handlers.dispatch(Pointer("click", 1, 1, 1, 1, 0))
    wait_for(lambda: len(errors) == 2)
    assert errors[1] is None
    handlers.close()


def test_a_stuck_handler_drops_events_beyond_the_bound_and_close_does_not_hang() -> None:
    release = threading.Event()
    handlers = PointerHandlers(lambda _: None, max_pending=2)
    handlers.register("click", lambda *_: release.wait(5))
    for _ in range(6):
        handlers.dispatch(Pointer("click", 1, 1, 1, 1, 0))
    assert handlers.dropped >= 3
    release.set()
    handlers.close()


def test_no_handler_no_thread() -> None:
    handlers = PointerHandlers(lambda _: None)
    handlers.dispatch(Pointer("click", 1, 1, 1, 1, 0))
    assert not [t for t in threading.enumerate() if t.name == "livecam-pointer"]
    handlers.close()


def test_click_and_drag_from_a_client_reach_python_and_errors_show() -> None:
    clicks: list[tuple[int, int, int, str]] = []
    drags: list[tuple[int, ...]] = []

    def on_click(x: int, y: int, button: int) -> None:
        clicks.append((x, y, button, threading.current_thread().name))
        if button == 2:
            raise RuntimeError("right click not wanted")

    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url) as client:
            await client.next()
            await client.ws.send(json.dumps({"type": "pointer", "event": "click", "x": 12, "y": 34}))
            await client.ws.send(
                json.dumps({"type": "pointer", "event": "drag", "x0": 50, "y0": 40, "x1": 10, "y1": 20})
            )
            await client.ws.send(
                json.dumps({"type": "pointer", "event": "click", "x": 1, "y": 2, "button": 2})
            )
            shown = await client.wait_text(lambda m: m.get("type") == "status" and m.get("error"))
            assert "right click not wanted" in shown["error"]
            await client.next()  # a new frame does not clear a handler's error
            await asyncio.sleep(0.1)
            assert client.error is not None and "right click" in client.error

    with LiveFrame("testpattern:160x120", fps=30) as lf:
        lf.on_click(on_click)
        lf.on_drag(lambda *rect: drags.append(rect))
        asyncio.run(scenario(lf))
        assert clicks[:2] == [(12, 34, 0, "livecam-pointer"), (1, 2, 2, "livecam-pointer")]
        assert drags == [(10, 20, 50, 40)]
        wait_for(lambda: lf.error is not None)
        assert "on_click handler raised RuntimeError: right click not wanted" in str(lf.error)
        lf.on_click(on_click, remove=True)


def test_pointer_messages_count_against_the_rate_limit() -> None:
    async def scenario(url: str) -> None:
        async with FrameClient(url) as flooder:
            message = json.dumps({"type": "pointer", "event": "click", "x": 1, "y": 1})
            with pytest.raises(ConnectionClosed) as info:
                for _ in range(200):
                    await flooder.ws.send(message)
                await flooder.ws.recv()
                await flooder.ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1008

    server = FrameServer(limits=Limits(max_messages_per_s=20))
    server.start()
    stream = Stream(LatestFrame(), Look(settings=Settings(), max_fps=0), OriginPolicy(env=""))
    stream.slot.put(np.zeros((8, 8, 3), np.uint8))
    server.add(stream)
    try:
        asyncio.run(scenario(f"ws://127.0.0.1:{server.port}{PATH_PREFIX}{stream.id}?token={stream.token}"))
    finally:
        server.stop()
