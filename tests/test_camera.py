"""The viewer's own camera (``LiveFrame("browser")``): the rules as numbers, then a real websockets client
playing the browser on 127.0.0.1 (capture requests in, JPEG camera frames out), then the comm path."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from livecam_widget import LiveFrame, draw_code, read_code
from livecam_widget._camera import (
    MAX_UPLOAD,
    CameraWish,
    ClockOffset,
    decode_camera_frame,
    image_size,
    parse_browser_source,
)
from livecam_widget._protocol import (
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    CameraClaim,
    CameraError,
    ProtocolError,
    pack_frame,
    parse_camera_frame,
    parse_client_message,
)
from livecam_widget.client import FrameClient
from tests.conftest import wait_for

#: The "browser" clock of the fake browser runs this far ahead of the kernel's (seconds).
SKEW = 250.0


def camera_jpeg(value: int, noise: bool = True) -> bytes:
    image = np.random.default_rng(value).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    if not noise:
        image[:] = 60
    image[:48] = 60
    draw_code(image, value, bits=16, block=16)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return data.tobytes()


def answer(ask: int, jpeg: bytes, *, captured_ago: float = 0.0, mime: str = "image/jpeg") -> bytes:
    """A camera frame as a browser sends it; its times on the skewed browser clock, in ms."""
    now = (time.time() + SKEW) * 1000
    header = {
        "type": "camera",
        "ask": ask,
        "mime": mime,
        "t_capture": now - captured_ago * 1000,
        "t_received": now,
        "t_sent": now,
        "fps": 30,
    }
    return pack_frame(header, jpeg)


# -- rules, no sockets ------------------------------------------------------------------------------------


def test_browser_source_forms_and_errors() -> None:
    assert parse_browser_source("browser") == CameraWish(640, 480, 30.0)
    assert parse_browser_source("browser:1280x720") == CameraWish(1280, 720, 30.0)
    assert parse_browser_source("browser:320x240@15") == CameraWish(320, 240, 15.0)
    assert parse_browser_source(0) is None and parse_browser_source("clip.mp4") is None
    for bad, words in [
        ("browser:big", "use 'browser'"),
        ("browser:8x8", r"each side must be 16\.\.4096"),
        ("browser:640x480@500", r"must be 1\.\.120"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_browser_source(bad)
    with pytest.raises(ValueError, match="use 'browser'"):
        LiveFrame("browser:huge")


def test_clock_offset_takes_the_exchange_with_the_shortest_round_trip() -> None:
    clock = ClockOffset()
    # Browser clock 100 s ahead; a slow exchange (90 ms out, 10 ms back) and a quick symmetric one.
    clock.observe(asked=10.0, arrived=110.09, left=110.10, received=10.11)
    clock.observe(asked=20.0, arrived=120.002, left=120.012, received=20.014)
    assert clock.trip == pytest.approx(0.004)
    assert clock.offset == pytest.approx(100.0, abs=0.001)
    assert clock.to_kernel(130.5) == pytest.approx(30.5, abs=0.001)


def test_image_sizes_are_read_from_headers_and_huge_claims_refused_before_decoding() -> None:
    jpeg = camera_jpeg(5)
    assert image_size(jpeg, "image/jpeg") == (320, 240)
    _, png = cv2.imencode(".png", np.zeros((7, 9, 3), np.uint8))
    assert image_size(png.tobytes(), "image/png") == (9, 7)
    # A JPEG whose frame header claims 60000x60000: refused without decoding a pixel.
    i = jpeg.index(b"\xff\xc0")
    huge = jpeg[: i + 5] + struct.pack(">HH", 60000, 60000) + jpeg[i + 9 :]
    with pytest.raises(ValueError, match=r"60000x60000: each side must be 1\.\.4096"):
        decode_camera_frame(huge, "image/jpeg")
    with pytest.raises(ValueError, match=r"not a readable image/jpeg"):
        decode_camera_frame(b"GIF89a....", "image/jpeg")
    assert decode_camera_frame(jpeg, "image/jpeg").shape == (240, 320, 3)


def test_camera_messages_parse_and_bad_ones_close_with_the_reason() -> None:
    frame = parse_camera_frame(answer(3, b"\xff\xd8jpeg"), MAX_UPLOAD)
    assert frame.ask == 3 and frame.mime == "image/jpeg" and frame.payload == b"\xff\xd8jpeg"
    assert parse_client_message('{"type":"camera_claim","auto":true}', MAX_UPLOAD) == CameraClaim(True)
    error = parse_client_message('{"type":"camera_error","name":"NotAllowedError","message":"no"}', 10)
    assert error == CameraError("NotAllowedError", "no")
    cases: list[tuple[Any, int, int, str]] = [
        (answer(1, b"x"), 0, CLOSE_UNSUPPORTED, "only from a browser camera"),
        ('{"type":"camera_claim"}', 0, CLOSE_POLICY, "source is not the browser"),
        (answer(1, b"x" * 100), 50, CLOSE_TOO_BIG, "over 50 bytes"),
        (answer(0, b"x"), MAX_UPLOAD, CLOSE_POLICY, "ask must be a positive integer"),
        (answer(1, b"x", mime="image/gif"), MAX_UPLOAD, CLOSE_POLICY, "mime must be one of"),
        (answer(1, b""), MAX_UPLOAD, CLOSE_POLICY, "without an image"),
        (pack_frame({"type": "next"}, b"x"), MAX_UPLOAD, CLOSE_POLICY, 'of type "camera"'),
        (b"\x00\x00\xff\xff{}", MAX_UPLOAD, CLOSE_POLICY, "header length out of range"),
    ]
    for message, limit, code, words in cases:
        with pytest.raises(ProtocolError, match=words) as info:
            parse_client_message(message, limit)
        assert info.value.code == code


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
_HEADERS = st.fixed_dictionaries(
    {"type": st.sampled_from(["camera", "next", 3])},
    optional={
        "ask": _JSON,
        "mime": st.sampled_from(["image/jpeg", "image/png", "text/html"]) | _JSON,
        "t_capture": _JSON,
        "t_received": _JSON,
        "t_sent": _JSON,
        "fps": _JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.builds(pack_frame, _HEADERS, st.binary(max_size=64))))
def test_camera_frame_parser_only_ever_accepts_or_raises_protocol_error(message: bytes) -> None:
    try:
        frame = parse_client_message(message, MAX_UPLOAD)
    except ProtocolError as exc:
        assert exc.code in (1003, 1008, 1009)
    else:
        assert frame.payload  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["image/jpeg", "image/png"]))
def test_decoding_random_bytes_only_ever_raises_value_error(data: bytes, mime: str) -> None:
    with contextlib.suppress(ValueError):
        decode_camera_frame(b"\xff\xd8" + data if mime == "image/jpeg" else data, mime)


# -- a real client playing the browser ---------------------------------------------------------------------


async def claim(client: FrameClient, auto: bool = True) -> None:
    """Offer the camera as a view does, which also pulls frames (one grant): the kernel asks for camera
    frames only while something wants frames."""
    await client.request(1)
    await client.ws.send(json.dumps({"type": "camera_claim", "auto": auto}))


async def next_ask(client: FrameClient, timeout: float = 5.0) -> int:
    message = await client.wait_text(lambda m: m.get("type") == "capture", timeout)
    return int(message["ask"])


async def role(client: FrameClient, **expect: bool) -> dict[str, Any]:
    """The next camera-role message saying ``expect`` (earlier ones, e.g. the welcome, are passed over)."""
    return await client.wait_text(
        lambda m: m.get("type") == "camera" and all(m.get(k) == v for k, v in expect.items())
    )


def test_frames_from_the_capturing_view_reach_python_process_and_every_view() -> None:
    """The whole loop with a fake browser: a claim, one request at a time, frames far over the server's
    few-KiB message limit, decoded into the slot, through ``process``, to a second view; capture times
    translated from the (skewed) browser clock to the kernel's."""

    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url) as camera, FrameClient(lf.url) as watcher:
            assert (await camera.wait_text(lambda m: m.get("type") == "hello"))["camera"] == {
                "width": 320,
                "height": 240,
                "fps": 15.0,
            }
            assert await role(camera) == {"type": "camera", "capturing": False, "taken": False}
            await claim(camera)
            await role(camera, capturing=True)
            await role(watcher, capturing=False, taken=True)
            for value in range(1, 6):
                ask = await next_ask(camera)
                assert ask == value
                with pytest.raises(TimeoutError):  # nothing more is asked until this one is answered
                    await next_ask(camera, timeout=0.05)
                jpeg = camera_jpeg(value)
                assert len(jpeg) > 64 * 1024  # far over the limit of other client messages
                await camera.ws.send(answer(ask, jpeg, captured_ago=0.040))
                seen = await watcher.next()
                image = seen.decode()
                assert read_code(255 - image, 16, block=16) == value  # `process` (inverted) applied
                # Captured 40 ms before it was sent, on a clock 250 s ahead: the header's age says ~40 ms.
                assert 30 <= seen.age_ms < 1000, seen.age_ms
            # A second claim by the watcher (its user pressed the camera button) takes the camera over.
            await claim(watcher, auto=False)
            await role(watcher, capturing=True)
            await role(camera, capturing=False)
            ask = await next_ask(watcher)
            await camera.ws.send(answer(ask, camera_jpeg(99)))  # from the old capturer: dropped
            await watcher.ws.send(answer(ask, camera_jpeg(6)))
            assert read_code(255 - (await watcher.next()).decode(), 16, block=16) == 6

    with LiveFrame("browser:320x240@15", process=lambda f: 255 - f) as lf:
        asyncio.run(scenario(lf))
        snapshot = lf.snapshot()
        assert snapshot is not None and read_code(255 - snapshot, 16, block=16) == 6  # processed too
        wait_for(lambda: (lf.stats.get("camera") or {}).get("received") == 6, 5)


def test_when_the_capturing_view_goes_the_others_hear_it_and_one_takes_over() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url) as watcher:
            async with FrameClient(lf.url) as camera:
                await claim(camera)
                await next_ask(camera)
                await claim(watcher)  # taken: no
                await role(watcher, capturing=False, taken=True)
            await role(watcher, capturing=False, taken=False)
            await claim(watcher)
            ask = await next_ask(watcher)
            await watcher.ws.send(answer(ask, camera_jpeg(7)))
            assert read_code((await watcher.next()).decode(), 16, block=16) == 7

    with LiveFrame("browser") as lf:
        asyncio.run(scenario(lf))


def test_a_refused_camera_is_a_clear_error_and_a_later_frame_clears_it() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url) as view:
            await claim(view)
            await next_ask(view)
            message = {"type": "camera_error", "name": "NotAllowedError", "message": "Permission denied"}
            await view.ws.send(json.dumps(message))
            status = await view.wait_text(lambda m: m.get("type") == "status" and m.get("error"))
            assert "permission denied" in status["error"] and "NotAllowedError" in status["error"]
            await role(view, capturing=False, taken=False)
            await claim(view, auto=False)  # the user allowed it
            ask = await next_ask(view)
            await view.ws.send(answer(ask, camera_jpeg(8)))
            await view.wait_text(lambda m: m.get("type") == "status" and m.get("error") is None)

    with LiveFrame("browser") as lf:
        asyncio.run(scenario(lf))
        wait_for(lambda: lf.error is None, 5)


def test_bad_camera_frames_close_only_their_sender() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url) as good, FrameClient(lf.url) as bad:
            await claim(bad)
            await next_ask(bad)
            await bad.ws.send(b"\x00" * (MAX_UPLOAD + 1))
            with pytest.raises(ConnectionClosed):
                await bad.wait_text(lambda m: False)
            assert bad.ws.close_code == CLOSE_TOO_BIG
            # Closed by the server: once it has finished closing, leaving `async with` leaves it alone
            # (FrameClient.close; closing it again raised inside asyncio 1 run in about 10).
            await bad.ws.wait_closed()
            await role(good, taken=True)  # while the bad view captured
            await role(good, taken=False)  # and once it was closed
            await claim(good)
            ask = await next_ask(good)
            await good.ws.send(answer(ask, b"\xff\xd8 not really a jpeg"))
            status = await good.wait_text(lambda m: m.get("type") == "status" and m.get("error"))
            assert "not a readable image/jpeg" in status["error"]
            ask = await next_ask(good)  # the kernel asks again: a bad frame is not the end
            await good.ws.send(answer(ask, camera_jpeg(9)))
            assert read_code((await good.next()).decode(), 16, block=16) == 9

    with LiveFrame("browser") as lf:
        asyncio.run(scenario(lf))


def test_a_widget_whose_source_is_not_the_browser_refuses_camera_messages() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url) as client:
            assert "camera" not in (await client.wait_text(lambda m: m.get("type") == "hello"))
            await client.ws.send(answer(1, b"\xff\xd8"))  # small: under the server-wide message limit
            with pytest.raises(ConnectionClosed):
                await client.wait_text(lambda m: False)
            assert client.ws.close_code == CLOSE_UNSUPPORTED
            await client.ws.wait_closed()

    with LiveFrame("testpattern") as lf:
        asyncio.run(scenario(lf))


def test_nothing_is_asked_of_the_camera_while_nothing_wants_frames_or_the_widget_is_paused() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url) as view:
            await view.ws.send(json.dumps({"type": "camera_claim", "auto": True}))  # claims, pulls nothing
            await role(view, capturing=True)
            with pytest.raises(TimeoutError):
                await next_ask(view, timeout=0.3)
            await view.request(1)  # the view wants a frame: now the camera is asked
            ask = await next_ask(view)
            await asyncio.to_thread(lf.stop)
            await view.ws.send(answer(ask, camera_jpeg(1)))
            with pytest.raises(TimeoutError):  # paused: no next request
                await next_ask(view, timeout=0.3)
            await asyncio.to_thread(lf.start)
            await next_ask(view)

    with LiveFrame("browser") as lf:
        asyncio.run(scenario(lf))
