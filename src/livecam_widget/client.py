"""Reference client for protocol v1 (docs/protocol.md), used by the tests and benchmarks.

async with FrameClient(lf.url) as client:
    frame = await client.next()          # one request, one frame
    image = frame.decode()               # numpy BGR
    print(frame.seq, frame.age_ms)
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
from ._protocol import unpack_frame


@dataclass
class ReceivedFrame:
    header: dict[str, Any]
    data: bytes
    t_received: float = field(default_factory=time.time)

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
        image = cv2.imdecode(np.frombuffer(self.data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"could not decode {self.header.get('mime')} frame {self.seq}")
        return image


class FrameClient:
    def __init__(self, url: str, *, origin: str | None = None, open_timeout: float = 10.0) -> None:
        self.url = url
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

    async def request(self, count: int = 1, *, report_paint: bool = True) -> None:
        """Grant ``count`` frames; the first grant reports the last received frame as painted."""
        for _ in range(count):
            message: dict[str, Any] = {"type": "next"}
            if report_paint and self._last is not None:
                message["painted"] = {"seq": self._last.seq, "rev": self._last.rev}
                report_paint = False
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
