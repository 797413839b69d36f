"""What a view shows besides the picture: the overlay's stats feed, the repr, a view that pauses itself."""

from __future__ import annotations

import asyncio
import json

import pytest

from livecam_widget import LiveFrame
from livecam_widget._protocol import stats_message
from livecam_widget._widget import describe
from livecam_widget.client import FrameClient
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("no_leaks")


def test_stats_message_has_the_stream_numbers_and_this_viewers_own() -> None:
    stream = {
        "fps_source": 30.0,
        "dropped": 4,
        "clients": 2,
        "encode_ms": 1.5,
        "bytes_per_frame": 9000,
        "frame_size": [640, 480],
        "fps_sent": 55.0,  # the sum over viewers: not this viewer's
        "viewers": [{}, {}],
        "format": "auto",
    }
    viewer = {"fps_sent": 27.5, "latency_ms": 40.0, "outstanding": 1, "codec": "h264"}
    message = json.loads(stats_message(stream, viewer))
    assert message == {
        "type": "stats",
        "fps_source": 30.0,
        "dropped": 4,
        "clients": 2,
        "encode_ms": 1.5,
        "bytes_per_frame": 9000,
        "frame_size": [640, 480],
        "fps_sent": 27.5,
        "latency_ms": 40.0,
        "quality_level": None,
        "codec": "h264",
        "format": "auto",
    }


def test_every_viewer_gets_stats_about_once_a_second() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url) as client:
            await client.next()
            message = await client.wait_text(lambda m: m.get("type") == "stats", timeout=5)
            assert message["frame_size"] == [320, 240]
            assert message["clients"] == 1
            assert isinstance(message["bytes_per_frame"], int) and message["bytes_per_frame"] > 0
            assert "fps_source" in message and "latency_ms" in message and "dropped" in message

    with LiveFrame("testpattern:320x240", fps=30) as lf:
        asyncio.run(scenario(lf))


def test_describe_names_state_size_rates_and_error() -> None:
    stats = {
        "fps_source": 30.0,
        "fps_sent": 29.5,
        "fps_painted": 29.0,
        "latency_ms": 41.2,
        "clients": 1,
        "dropped": 3,
        "bytes_per_frame": 12345,
        "encode_ms": 1.25,
        "frame_size": [640, 480],
    }
    text = describe("live", stats, "ValueError: boom")
    assert text.startswith("<LiveFrame live 640x480 fps_source=30.0 fps_sent=29.5 fps_painted=29.0")
    assert "latency_ms=41.2 clients=1 dropped=3 bytes_per_frame=12345 encode_ms=1.25" in text
    assert text.endswith("error='ValueError: boom'>")
    assert describe("paused", {}, None) == (
        "<LiveFrame paused fps_source=0 fps_sent=0 fps_painted=0 latency_ms=None clients=0 dropped=0>"
    )


def test_a_viewer_that_stops_granting_costs_no_encodes() -> None:
    """What the pause button relies on: no grants, no encodes, whatever the source does meanwhile."""

    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url) as client:
            for _ in range(3):
                await client.next()
            requests = wait_for(lambda: lf.stats.get("viewers"), timeout=5)[0]["requests"]  # type: ignore[index]
            assert requests == 3
            encodes = lf._session.stream.cache.encodes
            frames = lf._session.slot.count
            await asyncio.sleep(0.5)  # the source keeps producing; nobody asks
            assert lf._session.slot.count > frames
            assert lf._session.stream.cache.encodes == encodes

    with LiveFrame("testpattern:160x120", fps=60) as lf:
        assert lf.overlay is False
        asyncio.run(scenario(lf))


def test_display_size_traits_default_to_auto_and_refuse_negative_sizes() -> None:
    import traitlets

    with LiveFrame(width=320) as lf:
        assert (lf.width, lf.height) == (320, 0)
        lf.height = 100
        with pytest.raises(traitlets.TraitError, match="height must be 0"):
            lf.height = -1
        assert lf.height == 100
