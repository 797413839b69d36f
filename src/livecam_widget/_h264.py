"""H.264 for viewers that decode it (``format="h264"`` or ``"auto"``): PyAV's libx264 under ``_chains``.

Why a video codec at all: every JPEG frame stands alone, so noisy 1280x720 costs ~100 KB a frame and a
5 Mbit/s link carries 6 of them a second. An H.264 frame codes only what changed since the previous frame
its encoder made, and the pull discipline stays: a frame still goes out only against a grant, and it is
coded against the last frame *that chain sent*, however many source frames were skipped between, so a
viewer never waits for frames it did not ask for. No B-frames and no lookahead (``tune=zerolatency``):
one frame in, one frame out, decodable the moment it arrives. No periodic keyframes either (a keyframe of
noisy 720p is ~200 KB, a third of a second on such a link): keyframes come only when a viewer needs one
(see ``_chains``).

Two chroma formats. Constrained Baseline at 4:2:0 is what every H.264 decoder takes. A view whose decoder
also takes High 4:4:4 Predictive (it offers ``h264-444``; Chromium's and WebKitGTK's do, Firefox's does
not) gets full-resolution colour: on noisy 1280x720 camera frames at x264's CRF 23 that is fewer bytes (15.7
KB a frame against 22.6) and a picture closer to the source (PSNR 32.6 dB against 31.7; 39.5 against 36.1
measured against the scene without its noise), because 4:2:0 keeps one colour sample in four before any
coding (``python -m bench.quality``, docs/benchmarks.md). Colour edges are what colour-threshold code is
tuned on. Both say in the stream that they are BT.601, limited range, which is how they are converted.

``H264Encoder`` runs on the encode pool; PyAV lets go of the GIL while x264 works. ``VideoCache`` is
loop-owned: it turns ``ChainBook`` decisions into encodes, one chain's encodes strictly in order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import fractions
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ._chains import ChainBook, ChainParams, Seat, Take
from ._encoder import (
    VIDEO_FORMATS,
    Encoded,
    Encoder,
    Failure,
    Look,
    Settings,
    describe_exception,
    scaled,
)
from ._frames import Image, fit
from ._quality import LADDER
from ._slot import Frame, LatestFrame

MIME = "video/h264"
#: The x264 options: fastest preset, no frame delay, no B-frames, keyframes only when asked for.
X264_OPTIONS = {
    "preset": "ultrafast",
    "tune": "zerolatency",
    # BT.601, limited range, said in the stream (VUI): a decoder told nothing may take it for BT.709
    # (Chromium and Firefox do: pure green painted as (0, 215, 1)).
    "x264-params": "keyint=infinite:scenecut=0:colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m",
    "forced-idr": "1",  # a keyframe asked for is an IDR: decodable by a decoder that has nothing before it
}
#: The chroma formats a chain codes in: PyAV's pixel format and x264's profile for each. The protocol's
#: offer names them "h264" (4:2:0) and "h264-444" (``_protocol.VIDEO_CODECS``).
CHROMA = {"420": ("yuv420p", "baseline"), "444": ("yuv444p", "high444")}
#: BGR -> Y'CbCr, BT.601 limited range (what the stream says it is), for ``cv2.transform``.
_BT601_LIMITED = np.array(
    [
        [0.114 * 219 / 255, 0.587 * 219 / 255, 0.299 * 219 / 255, 16.0],
        [0.5 * 224 / 255, -0.331264 * 224 / 255, -0.168736 * 224 / 255, 128.0],
        [-0.081312 * 224 / 255, -0.418688 * 224 / 255, 0.5 * 224 / 255, 128.0],
    ],
    dtype=np.float32,
)
#: Seconds of headroom before a video viewer climbs one quality step (each step is a keyframe; see Stream).
VIDEO_UP_AFTER = 30.0
#: How much worse (CRF) each automatic-quality level codes: the ladder's scale steps apply as for JPEG.
CRF_STEP = 3
MAX_CRF = 51


def available() -> str | None:
    """None when H.264 encoding works here, else what is missing and how to get it."""
    try:
        import av  # noqa: F401
    except ImportError:
        return "format='h264' needs PyAV: pip install 'livecam-widget[video]' (or pip install av)"
    return None


def crf_for(quality: int) -> int:
    """x264's constant rate factor for a JPEG-style quality 1..100: 80 -> 23 (x264's default), 100 -> 16,
    50 -> 34; lower CRF is better."""
    return max(0, min(MAX_CRF, round(51 - 0.35 * quality)))


def video_settings(settings: Settings, level: int) -> tuple[int, float]:
    """(CRF, scale) at an automatic-quality level: level 0 is the quality set (the ladder's top under
    quality="auto"); each level below codes CRF_STEP worse, up to 3 steps, then the ladder's downscales."""
    level = max(0, min(level, len(LADDER) - 1))
    base = crf_for(LADDER[0].quality if settings.auto_quality else settings.quality)
    return min(MAX_CRF, base + CRF_STEP * min(level, 3)), LADDER[level].scale


def codec_string(sps: bytes) -> str:
    """The WebCodecs codec string ``avc1.PPCCLL`` of an SPS NAL unit (header byte first)."""
    return "avc1." + sps[1:4].hex()


def split_nals(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit (start codes removed)."""
    units = []
    for part in data.split(b"\x00\x00\x01"):
        part = part.rstrip(b"\x00")  # a 4-byte start code leaves a zero on the previous unit
        if part:
            units.append(part)
    return units


def even(image: Image) -> Image:
    """4:2:0 needs even sides: drop an odd last row or column (a side of 1 is doubled instead)."""
    height, width = image.shape[:2]
    if height < 2 or width < 2:
        return cv2.resize(image, (max(2, width), max(2, height)), interpolation=cv2.INTER_NEAREST)
    return image[: height - height % 2, : width - width % 2]


def to_i420(image: Image) -> Image:
    """BGR, BGRA or gray uint8 (even sides) -> planar YUV 4:2:0 (BT.601, limited range, as x264 assumes)."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    code = cv2.COLOR_BGRA2YUV_I420 if image.shape[2] == 4 else cv2.COLOR_BGR2YUV_I420
    return cv2.cvtColor(image, code)


def to_yuv444(image: Image) -> Image:
    """BGR, BGRA or gray uint8 -> Y'CbCr 4:4:4, channels last (BT.601, limited range, as for 4:2:0)."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return cv2.transform(image, _BT601_LIMITED)


@dataclass(frozen=True)
class VideoEncoded(Encoded):
    """An encoded video frame: an ``Encoded`` whose data is one Annex B access unit of ``chain``."""

    key: bool = False
    chain: int = 0
    codec: str = ""

    def header(self, t_sent: float) -> dict[str, Any]:
        header = super().header(t_sent)
        header.update(key=self.key, chain=self.chain, codec=self.codec)
        return header


class H264Encoder:
    """One chain's libx264 encoder, at 4:2:0 or 4:4:4 (``CHROMA``). Called from the encode pool, one call at
    a time (``VideoCache`` orders them); rebuilt, with a keyframe, when the picture's size or the CRF
    changes."""

    def __init__(self, threads: int = 0, chroma: str = "420") -> None:
        if chroma not in CHROMA:
            raise ValueError(f"chroma must be one of {sorted(CHROMA)}, not {chroma!r}")
        self.chroma = chroma
        self.threads = threads or min(4, os.cpu_count() or 1)
        self._context: Any = None
        self._shape: tuple[int, int, int] | None = None
        self._frames = 0
        self.codec = ""

    def encode(self, image: Image, crf: int, key: bool) -> tuple[bytes, bool]:
        """One access unit for ``image`` (uint8, even sides); a keyframe if ``key`` or the encoder is new."""
        import av

        height, width = image.shape[:2]
        if self._context is None or self._shape != (width, height, crf):
            self.close()
            pix_fmt, profile = CHROMA[self.chroma]
            context = av.CodecContext.create("libx264", "w")
            context.width, context.height, context.pix_fmt = width, height, pix_fmt
            context.time_base = fractions.Fraction(1, 1000)
            context.framerate = fractions.Fraction(30)  # x264 picks its level by it; frames carry no rate
            options = {"profile": profile, "crf": str(crf), "threads": str(self.threads)}
            context.options = {**X264_OPTIONS, **options}
            context.open()
            self._context, self._shape, self._frames = context, (width, height, crf), 0
            key = True
        if self.chroma == "444":
            frame = av.VideoFrame.from_ndarray(to_yuv444(image), format="yuv444p", channel_last=True)
        else:
            frame = av.VideoFrame.from_ndarray(to_i420(image), format="yuv420p")
        frame.pts = self._frames
        self._frames += 1
        if key:
            frame.pict_type = av.video.frame.PictureType.I
        packets = self._context.encode(frame)
        if len(packets) != 1:  # zerolatency: one frame in, one packet out; anything else is a broken setup
            raise RuntimeError(f"libx264 returned {len(packets)} packets for one frame (expected 1)")
        data = bytes(packets[0])
        is_key = bool(packets[0].is_keyframe)
        if is_key:
            sps = next((unit for unit in split_nals(data) if unit[0] & 0x1F == 7), None)
            if sps is not None:
                self.codec = codec_string(sps)
        return data, is_key

    def close(self) -> None:
        self._context = None  # PyAV frees the codec context with the object
        self._shape = None


class VideoChainEncoder:
    """A chain's encoder plus the render step it shares with JPEG (``Encoder.render``: process, channels)."""

    def __init__(
        self, chain_id: int, renderer: Encoder, clock: Callable[[], float], chroma: str = "420"
    ) -> None:
        self.chain_id = chain_id
        self.renderer = renderer
        self.h264 = H264Encoder(chroma=chroma)
        self._clock = clock
        self._lock = threading.Lock()  # the cache orders calls; this makes "one at a time" a fact, not a hope
        #: A keyframe was asked for and not yet made (that encode failed): the next one is it.
        self._key_owed = False

    def encode(self, frame: Frame, look: Look, level: int, key: bool) -> VideoEncoded | Failure:
        started = self._clock()
        settings = look.settings
        image = self.renderer.rendered(frame, look.rev, settings, look.process)
        if isinstance(image, Failure):
            with self._lock:
                self._key_owed = self._key_owed or key  # no frame was coded: the seats still need their key
            return image
        source_height, source_width = image.shape[:2]
        crf, scale = video_settings(settings, level)
        full = even(fit(image, settings.max_size))
        shown = even(scaled(full, scale))
        with self._lock:
            key = key or self._key_owed
            try:
                data, is_key = self.h264.encode(shown, crf, key)
            except Exception as exc:
                self._key_owed = key
                return Failure(frame.seq, look.rev, describe_exception("H.264 encode", exc))
            self._key_owed = False
            codec = self.h264.codec
        return VideoEncoded(
            seq=frame.seq,
            rev=look.rev,
            t_capture=frame.t_capture,
            mime=MIME,
            width=int(shown.shape[1]),
            height=int(shown.shape[0]),
            source_width=int(source_width),
            source_height=int(source_height),
            data=data,
            encode_ms=(self._clock() - started) * 1000.0,
            full_width=int(full.shape[1]),
            full_height=int(full.shape[0]),
            key=is_key,
            chain=self.chain_id,
            codec=codec,
        )


class VideoCache:
    """The video side of a stream's encoding: chains of encodes, loop-owned (like ``EncodeCache``)."""

    def __init__(
        self, slot: LatestFrame, renderer: Encoder, on_result: Callable[[Encoded | Failure], None]
    ) -> None:
        self.slot = slot
        self.book = ChainBook()
        self.renderer = renderer
        #: Video frames encoded so far, and the newest (stats).
        self.encodes = 0
        self.last: VideoEncoded | None = None
        self._on_result = on_result
        self._encoders: dict[int, VideoChainEncoder] = {}
        #: Each chain's frames still wanted by a seat behind: (chain id, index) -> the encode.
        self._made: dict[tuple[int, int], asyncio.Future[VideoEncoded | Failure]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: concurrent.futures.Executor | None = None

    def attach(self, loop: asyncio.AbstractEventLoop, executor: concurrent.futures.Executor) -> None:
        self._loop = loop
        self._executor = executor

    async def encoded(
        self, seat: Seat, frame: Frame, look: Look, level: int, chroma: str = "420"
    ) -> VideoEncoded | Failure:
        """The seat's next video frame: ``frame`` encoded on its chain (at ``chroma``, see ``CHROMA``), or
        the chain's frame it lacks. The decision is taken before the first await, so lanes that call in the
        order they picked are placed in that order."""
        assert self._loop is not None, "VideoCache.attach() first"
        params: ChainParams = (look.rev, level, chroma)
        before = seat.chain
        take = self.book.place(seat, params)
        if not take.new and (take.chain.id, take.index) not in self._made:  # not kept: start over from a key
            seat.need_key = True
            take = self.book.place(seat, params)
        if before is not None and before is not take.chain and before.seats == 0:
            self._forget(before.id)
        if take.new:
            self.slot.take(frame.seq)  # a frame a view got: not dropped
            future = self._start(take, frame, look, level)
        else:
            future = self._made[take.chain.id, take.index]
        return await asyncio.shield(future)

    def _start(
        self, take: Take, frame: Frame, look: Look, level: int
    ) -> asyncio.Future[VideoEncoded | Failure]:
        assert self._loop is not None
        chain_id = take.chain.id
        encoder = self._encoders.get(chain_id)
        if encoder is None:
            chroma = take.chain.params[2]
            encoder = VideoChainEncoder(chain_id, self.renderer, time.perf_counter, chroma)
            self._encoders[chain_id] = encoder
        previous = self._made.get((chain_id, take.index - 1))
        future = self._loop.create_task(self._encode(previous, encoder, frame, look, level, take.key))
        self._made[(chain_id, take.index)] = future
        self._made.pop((chain_id, take.index - 3), None)  # MAX_LAG frames back is as far as a seat may trail
        return future

    async def _encode(
        self,
        previous: asyncio.Future[VideoEncoded | Failure] | None,
        encoder: VideoChainEncoder,
        frame: Frame,
        look: Look,
        level: int,
        key: bool,
    ) -> VideoEncoded | Failure:
        if previous is not None:  # a chain's frames are coded in order: each is a difference from the last
            await asyncio.wait([previous])
        assert self._loop is not None
        result = await self._loop.run_in_executor(self._executor, encoder.encode, frame, look, level, key)
        if isinstance(result, VideoEncoded):
            self.encodes += 1
            self.last = result
        self._on_result(result)
        return result

    def leave(self, seat: Seat) -> None:
        """A video viewer is gone (or gets images now)."""
        emptied = self.book.leave(seat)
        if emptied is not None:
            self._forget(emptied.id)

    def _forget(self, chain_id: int) -> None:
        self._encoders.pop(chain_id, None)
        for made in [made for made in self._made if made[0] == chain_id]:
            del self._made[made]


def image_settings(settings: Settings) -> Settings:
    """What viewers that get images are sent when the format is a video one: JPEG at the quality set."""
    if settings.format in VIDEO_FORMATS:
        return dataclasses.replace(settings, format="jpeg")
    return settings
