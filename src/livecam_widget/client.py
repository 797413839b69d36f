"""Reference client for protocol v1 (docs/protocol.md), used by the tests and benchmarks.

async with FrameClient(lf.url) as client:
    frame = await client.next()          # one request, one frame
    image = frame.decode()               # numpy BGR
    print(frame.seq, frame.age_ms)

``FrameClient(url, video=True)`` offers H.264 at 4:2:0 and 4:4:4 (docs/protocol.md, "Video frames": FFmpeg's
decoder takes both; ``video=("h264",)`` offers 4:2:0 only) and decodes every video frame as it arrives with
PyAV (a chain's frames must all be decoded, in order); ``frame.decode()`` then returns the decoded picture as
for an image.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from ._frames import Image
from ._logs import redacting_logger
from ._protocol import VIDEO_CODECS, unpack_frame


@dataclass
class ReceivedFrame:
    header: dict[str, Any]
    data: bytes
    t_received: float = field(default_factory=time.time)
    #: A video frame's picture, decoded on arrival (None for an image, or a video frame not decodable).
    image: Image | None = None

    @property
    def is_video(self) -> bool:
        return str(self.header.get("mime", "")).startswith("video/")

    @property
    def seq(self) -> int:
        return int(self.header["seq"])

    @property
    def rev(self) -> int:
        return int(self.header.get("rev", 0))

    @property
    def age_ms(self) -> float:
        """Capture -> arrival, on the kernel's clock (valid when client and kernel share a machine)."""
        return (self.t_received - float(self.header["t_capture"])) * 1000.0

    def decode(self) -> Image:
        if self.is_video:
            if self.image is None:
                raise ValueError(f"video frame {self.seq} was not decoded (not a keyframe after a lost one?)")
            return self.image
        image = cv2.imdecode(np.frombuffer(self.data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"could not decode {self.header.get('mime')} frame {self.seq}")
        return image


class H264Decoder:
    """PyAV's H.264 decoder for one connection: every video frame goes through it, in order."""

    def __init__(self) -> None:
        import av

        self._context = av.CodecContext.create("h264", "r")
        self._chain: int | None = None
        #: Delta frames that arrived without the chain's state (dropped; the next grant asks for a key).
        self.lost = 0

    def decode(self, header: dict[str, Any], data: bytes) -> Image | None:
        import av

        chain = header.get("chain")
        if not header.get("key") and chain != self._chain:
            self.lost += 1
            return None
        self._chain = chain
        frames = self._context.decode(av.Packet(data))
        if not frames:
            return None
        image: Image = frames[-1].to_ndarray(format="bgr24")
        return image


class FrameClient:
    def __init__(
        self,
        url: str,
        *,
        origin: str | None = None,
        open_timeout: float = 10.0,
        video: bool | tuple[str, ...] = False,
        decode_video: bool = True,
    ) -> None:
        self.url = url
        #: The video codecs offered on connecting (none: images only).
        self.video: tuple[str, ...] = VIDEO_CODECS if video is True else tuple(video or ())
        #: Decode video frames as they arrive (else the caller decodes them, in order, with H264Decoder).
        self.decode_video = decode_video
        self._decoder: H264Decoder | None = None
        self.origin = origin
        self.open_timeout = open_timeout
        self.hello: dict[str, Any] | None = None
        self.state: str | None = None
        self.error: str | None = None
        self.texts: list[dict[str, Any]] = []
        self._ws: ClientConnection | None = None
        self._last: ReceivedFrame | None = None

    async def __aenter__(self) -> FrameClient:
        self._ws = await connect(
            self.url,
            origin=self.origin,  # type: ignore[arg-type]
            max_size=None,
            compression=None,
            open_timeout=self.open_timeout,
            logger=redacting_logger("livecam_widget.client"),
        )
        if self.video:
            self._decoder = H264Decoder() if self.decode_video else None
            await self._ws.send(json.dumps({"type": "video", "codecs": list(self.video)}))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def ws(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("not connected: use `async with FrameClient(url)`")
        return self._ws

    async def close(self) -> None:
        # A connection the server already closed is left alone: websockets' close() then aborts the
        # transport again, which asyncio (3.11) can fail on once the transport has gone.
        if self._ws is not None and self._ws.state is not State.CLOSED:
            await self._ws.close()

    async def request(self, count: int = 1, *, report_paint: bool = True, key: bool = False) -> None:
        """Grant ``count`` frames in one message; it reports the last received frame as painted (and, with
        ``key``, asks for a video keyframe)."""
        message: dict[str, Any] = {"type": "next"}
        if count != 1:
            message["n"] = count
        if key:
            message["key"] = True
        if report_paint and self._last is not None:
            message["painted"] = {"seq": self._last.seq, "rev": self._last.rev}
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float | None = None) -> ReceivedFrame:
        """Wait for the next frame message, recording any text messages on the way."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.recv()
                if isinstance(message, str):
                    self._on_text(message)
                    continue
                header, data = unpack_frame(message)
                frame = ReceivedFrame(header, bytes(data))
                if frame.is_video and self._decoder is not None:
                    frame.image = self._decoder.decode(header, frame.data)
                self._last = frame
                return frame

    async def next(self, timeout: float | None = 10.0) -> ReceivedFrame:
        await self.request(1)
        return await self.receive(timeout)

    async def wait_text(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for a text message matching ``predicate`` (frames arriving meanwhile are discarded)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.recv()
                if isinstance(message, str):
                    obj = self._on_text(message)
                    if predicate(obj):
                        return obj

    def _on_text(self, message: str) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(message)
        self.texts.append(obj)
        if obj.get("type") == "hello":
            self.hello = obj
            self.state = obj.get("state")
        elif obj.get("type") == "status":
            self.state = obj.get("state")
            self.error = obj.get("error")
        return obj


def fetch(url: str, count: int = 1, timeout: float = 10.0) -> list[ReceivedFrame]:
    """Blocking helper: connect, pull ``count`` frames one at a time, disconnect."""

    async def run() -> list[ReceivedFrame]:
        async with FrameClient(url) as client:
            return [await client.next(timeout) for _ in range(count)]

    return asyncio.run(run())
