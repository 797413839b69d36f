"""format="h264": the libx264 encoder, the chains in a live stream, and what viewers that offer video get.

Real codecs both ways (libx264 through PyAV to encode; FFmpeg's H.264 decoder through PyAV to decode, as the
benchmark client does), real sockets on 127.0.0.1 and the reference client.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import av
import cv2
import numpy as np
import pytest
import traitlets

from livecam_widget import LiveFrame, _h264
from livecam_widget._encoder import Encoder, Look, Settings
from livecam_widget._h264 import (
    VIDEO_UP_AFTER,
    H264Encoder,
    VideoChainEncoder,
    codec_string,
    crf_for,
    split_nals,
    video_settings,
)
from livecam_widget._quality import IMAGE_UP_AFTER
from livecam_widget._slot import Frame
from livecam_widget.client import FrameClient, ReceivedFrame
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("no_leaks")


def noisy(i: int, width: int = 320, height: int = 240) -> np.ndarray:
    """A moving gradient with a square and sensor noise: what a camera gives, small."""
    x = np.linspace(0, 255, width, dtype=np.float32)
    image = np.empty((height, width, 3), np.float32)
    image[:] = ((x + 7 * i) % 256)[None, :, None]
    image[40 : 40 + height // 4, 10 + 3 * i : 10 + 3 * i + width // 4] = (30, 200, 90)
    image += np.random.default_rng(i).normal(0, 4, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def decode_all(units: list[bytes]) -> list[np.ndarray]:
    """Decode access units with a fresh decoder, one picture per unit or an error."""
    context = av.CodecContext.create("h264", "r")
    pictures = []
    for data in units:
        frames = context.decode(av.Packet(data))
        assert len(frames) == 1, "one access unit in, one picture out"
        pictures.append(frames[0].to_ndarray(format="bgr24"))
    return pictures


def test_the_encoder_makes_a_keyframe_then_small_deltas_and_a_keyframe_when_asked() -> None:
    encoder = H264Encoder(threads=1)
    units = [encoder.encode(noisy(i), 23, key=False) for i in range(4)]
    assert [key for _, key in units] == [True, False, False, False]
    assert all(len(data) < len(units[0][0]) / 2 for data, _ in units[1:])
    forced, key = encoder.encode(noisy(4), 23, key=True)
    assert key
    # A keyframe asked for is an IDR with its SPS and PPS: a decoder that never saw the chain decodes it.
    assert {unit[0] & 0x1F for unit in split_nals(forced)} >= {7, 8, 5}
    (picture,) = decode_all([forced])
    assert cv2.PSNR(picture, noisy(4)) > 30
    sps = next(unit for unit in split_nals(forced) if unit[0] & 0x1F == 7)
    assert encoder.codec == codec_string(sps) and encoder.codec.startswith("avc1.42")  # Baseline
    pictures = decode_all([data for data, _ in units])
    assert all(cv2.PSNR(p, noisy(i)) > 30 for i, p in enumerate(pictures))


def stripes(width: int = 320, height: int = 240) -> np.ndarray:
    """One-pixel red and blue columns on gray, plus noise: colour detail that 4:2:0 cannot carry."""
    image = np.full((height, width, 3), 128, np.uint8)
    image[:, 0::2] = (40, 40, 220)
    image[:, 1::2] = (220, 40, 40)
    noise = np.random.default_rng(0).normal(0, 2, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def test_at_444_the_encoder_is_high_444_and_keeps_colour_that_420_loses() -> None:
    image = stripes()
    full, sub = H264Encoder(threads=1, chroma="444"), H264Encoder(threads=1, chroma="420")
    data, key = full.encode(image, 23, key=False)
    assert key and full.codec.startswith("avc1.f4")  # High 4:4:4 Predictive (profile_idc 244)
    (picture,) = decode_all([data])
    assert picture.shape == image.shape
    (blurred,) = decode_all([sub.encode(image, 23, key=False)[0]])
    assert cv2.PSNR(picture, image) > 35 > cv2.PSNR(blurred, image) + 10, "4:2:0 averages the stripes away"
    units = [data] + [full.encode(stripes(), 23, key=False)[0] for _ in range(3)]
    assert len(decode_all(units)) == 4  # deltas too: one picture per access unit
    with pytest.raises(ValueError, match=r"chroma must be one of \['420', '444'\], not '422'"):
        H264Encoder(chroma="422")


@pytest.mark.parametrize("chroma", ["420", "444"])
def test_the_stream_says_its_colours_are_bt601_limited_range(chroma: str) -> None:
    """Said in the SPS (VUI): a decoder told nothing may take it for BT.709 (Chromium and Firefox did, and
    painted pure green as (0, 215, 1); tests/browser/test_video.py reads the colours back)."""
    data, _ = H264Encoder(threads=1, chroma=chroma).encode(noisy(0), 23, key=True)
    (frame,) = av.CodecContext.create("h264", "r").decode(av.Packet(data))
    assert frame.colorspace == 6  # AVCOL_SPC_SMPTE170M: BT.601
    assert frame.color_range == 1  # AVCOL_RANGE_MPEG: limited (16-235)
    assert (frame.color_primaries, frame.color_trc) == (6, 6)


def test_a_new_size_or_quality_restarts_with_a_keyframe() -> None:
    encoder = H264Encoder(threads=1)
    encoder.encode(noisy(0), 23, key=False)
    assert encoder.encode(noisy(1, 160, 120), 23, key=False)[1]
    assert not encoder.encode(noisy(2, 160, 120), 23, key=False)[1]
    assert encoder.encode(noisy(3, 160, 120), 32, key=False)[1]


@pytest.mark.parametrize(
    "image",
    [
        noisy(1, 321, 241),
        cv2.cvtColor(noisy(1), cv2.COLOR_BGR2GRAY),
        cv2.cvtColor(noisy(1), cv2.COLOR_BGR2BGRA),
    ],
    ids=["odd-sized", "gray", "bgra"],
)
def test_any_frame_the_widget_takes_is_coded_at_an_even_size(image: np.ndarray) -> None:
    chain = VideoChainEncoder(1, Encoder(), lambda: 0.0)
    result = chain.encode(Frame(1, 0.0, image), Look(Settings(format="h264")), 0, key=False)
    assert isinstance(result, _h264.VideoEncoded) and result.key
    height, width = image.shape[:2]
    assert (result.width, result.height) == (width - width % 2, height - height % 2)
    assert (result.source_width, result.source_height) == (width, height)
    header = result.header(0.0)
    assert header["mime"] == "video/h264" and header["chain"] == 1 and header["codec"].startswith("avc1.")
    (picture,) = decode_all([result.data])
    assert picture.shape == (result.height, result.width, 3)


def test_quality_maps_to_crf_and_levels_code_worse_then_smaller() -> None:
    assert (crf_for(80), crf_for(100), crf_for(50), crf_for(1)) == (23, 16, 34, 51)
    fixed = Settings(format="h264", quality=80)
    assert [video_settings(fixed, level) for level in range(7)] == [
        (23, 1.0), (26, 1.0), (29, 1.0), (32, 1.0), (32, 0.75), (32, 0.5), (32, 0.5)
    ]
    assert video_settings(Settings(format="h264", auto_quality=True), 0) == (21, 1.0)  # the ladder's top: 85


async def frames_of(lf: LiveFrame, client: FrameClient, start: int, count: int) -> list[ReceivedFrame]:
    got = []
    for i in range(start, start + count):
        lf.update(noisy(i))
        got.append(await client.next())
    return got


def test_a_viewer_that_offers_h264_gets_video_and_one_that_does_not_gets_jpeg() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url, video=True) as video, FrameClient(lf.url) as plain:
            got = await frames_of(lf, video, 0, 6)
            assert [f.header["mime"] for f in got] == ["video/h264"] * 6
            assert [f.header["key"] for f in got] == [True] + [False] * 5
            assert len({f.header["chain"] for f in got}) == 1
            for i, frame in enumerate(got):
                assert cv2.PSNR(frame.decode(), noisy(i)) > 30, "the picture is the frame"
            image = await plain.next()
            assert image.header["mime"] == "image/jpeg" and "key" not in image.header
            assert cv2.PSNR(image.decode(), noisy(5)) > 30
            # The once-a-second report (lf.stats, and each view's stats message) says who gets what.
            async with asyncio.timeout(5):
                while len(lf.stats.get("viewers") or []) < 2 or lf.stats["video"]["encodes"] < 6:
                    await asyncio.sleep(0.05)
            stats = lf.stats
            assert stats["format"] == "h264" and stats["video"]["bytes_per_frame"] > 0
            assert stats["dropped"] == 0, "a frame sent as video was taken, not dropped"
            assert stats["bytes_per_frame"] is not None  # the newest encode, of either kind
            assert sorted(v["codec"] for v in stats["viewers"]) == ["h264", "jpeg"]
            message = await video.wait_text(lambda m: m.get("type") == "stats")
            assert message["format"] == "h264" and message["codec"] == "h264"
            # Each quality step of a video view costs a keyframe: it climbs back only after a long spell.
            ups = sorted(viewer.core.quality.up_after for viewer in lf._session.stream.viewers)
            assert ups == [IMAGE_UP_AFTER, VIDEO_UP_AFTER] and VIDEO_UP_AFTER > IMAGE_UP_AFTER

    with LiveFrame(format="h264", max_fps=0) as lf:
        asyncio.run(scenario(lf))


def test_a_viewer_whose_decoder_takes_444_gets_it_on_a_chain_of_its_own() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with (
            FrameClient(lf.url, video=True) as full,
            FrameClient(lf.url, video=("h264",)) as sub,
            FrameClient(lf.url, video=("h264-444", "h264")) as full_too,
        ):
            for i in range(4):
                lf.update(noisy(i))
                frames = await asyncio.gather(full.next(), sub.next(), full_too.next())
                codecs = [frame.header["codec"][:7] for frame in frames]
                assert codecs == ["avc1.f4", "avc1.42", "avc1.f4"]
                chains = [frame.header["chain"] for frame in frames]
                assert chains[0] == chains[2] != chains[1], "4:4:4 viewers share a chain; 4:2:0 has its own"
                for frame in frames:
                    assert cv2.PSNR(frame.decode(), noisy(i)) > 30
            assert lf._session.stream.video.encodes == 8  # one encode per frame per chain
            # A viewer that stops offering 4:4:4 moves to the 4:2:0 chain, from a keyframe.
            await full.ws.send(json.dumps({"type": "video", "codecs": ["h264"]}))
            lf.update(noisy(4))
            moved, other = await asyncio.gather(full.next(), sub.next())
            assert moved.header["codec"].startswith("avc1.42") and moved.header["key"]
            assert moved.header["chain"] == other.header["chain"], "it joined the 4:2:0 viewer's chain"
            assert cv2.PSNR(moved.decode(), noisy(4)) > 30

    with LiveFrame(format="h264", max_fps=0) as lf:
        asyncio.run(scenario(lf))


def test_viewers_that_keep_pace_share_one_encode_per_frame() -> None:
    async def scenario(lf: LiveFrame) -> list[list[Any]]:
        async with FrameClient(lf.url, video=True) as a, FrameClient(lf.url, video=True) as b:
            got: list[list[Any]] = [[], []]
            for i in range(8):
                lf.update(noisy(i))
                frames = await asyncio.gather(a.next(), b.next())
                for seen, frame in zip(got, frames, strict=True):
                    seen.append((frame.seq, frame.header["chain"], frame.header["key"]))
                    frame.decode()  # both decoders follow the chain
            return got

    with LiveFrame(format="h264", max_fps=0) as lf:
        got = asyncio.run(scenario(lf))
        assert got[0] == got[1] and [seq for seq, _, _ in got[0]] == list(range(1, 9))
        assert lf._session.stream.video.encodes == 8


def test_a_key_request_a_new_look_and_a_withdrawn_offer() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url, video=True) as client:
            await frames_of(lf, client, 0, 3)
            lf.update(noisy(3))
            await client.request(key=True)  # as a view whose decoder failed
            keyed = await client.receive(10)
            assert keyed.header["key"] and cv2.PSNR(keyed.decode(), noisy(3)) > 30
            lf.process = lambda image: 255 - image  # a new look: a keyframe of the new picture
            relooked = await client.next()
            assert relooked.header["key"] and relooked.rev > keyed.rev
            assert cv2.PSNR(relooked.decode(), 255 - noisy(3)) > 30
            await client.ws.send(json.dumps({"type": "video", "codecs": []}))
            lf.update(noisy(4))
            assert (await client.next()).header["mime"] == "image/jpeg"
            await client.ws.send(json.dumps({"type": "video", "codecs": ["h264", "vp9-someday"]}))
            lf.update(noisy(5))
            back = await client.next()
            assert back.header["mime"] == "video/h264" and back.header["key"]

    with LiveFrame(format="h264", max_fps=0) as lf:
        asyncio.run(scenario(lf))


def test_switching_format_at_run_time_and_jpeg_for_snapshots() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url, video=True) as client:
            assert (await frames_of(lf, client, 0, 1))[0].header["mime"] == "image/jpeg"
            lf.format = "h264"
            assert (await client.next()).header["key"]
            lf.format = "png"
            assert (await client.next()).header["mime"] == "image/png"

    with LiveFrame(max_fps=0) as lf:
        asyncio.run(scenario(lf))
        lf.format = "h264"
        assert lf.snapshot().shape == (240, 320, 3)
    with LiveFrame(format="auto") as lf:  # nothing sent as video yet: the numbers are there, at zero
        lf.update(noisy(0))
        assert wait_for(lambda: lf.stats.get("video"))
        assert lf.stats["video"] == {"encodes": 0, "encode_ms": None, "bytes_per_frame": None, "chains": 0}


def test_h264_without_pyav_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_h264, "available", lambda: "format='h264' needs PyAV: pip install av")
    with pytest.raises(traitlets.TraitError, match="needs PyAV"):
        LiveFrame(format="h264")
    with LiveFrame() as lf, pytest.raises(traitlets.TraitError, match="needs PyAV"):
        lf.format = "auto"
    assert _h264.available.__name__ == "<lambda>"


def test_after_a_dropped_connection_the_first_frame_is_a_keyframe_of_the_newest_picture() -> None:
    async def scenario(lf: LiveFrame) -> None:
        async with FrameClient(lf.url, video=True) as watching, FrameClient(lf.url, video=True) as dropping:
            for i in range(4):
                lf.update(noisy(i))
                await asyncio.gather(watching.next(), dropping.next())
        lf.update(noisy(4))
        async with FrameClient(lf.url, video=True) as again:  # a fresh decoder, as after a reconnect
            frame = await again.next()
            assert frame.header["key"] and frame.seq == 5
            assert cv2.PSNR(frame.decode(), noisy(4)) > 30

    with LiveFrame(format="h264", max_fps=0) as lf:
        asyncio.run(scenario(lf))
        # The server notices each disconnect on its own loop, a moment after the client has gone.
        chains = lf._session.stream.video.book.chains
        assert wait_for(lambda: chains == []), "the chains went with their viewers"
