"""The client side of a measurement, run as its own process: ``python -m bench.clientproc SPEC_JSON``.

A separate process so that receiving (and the link proxy) never competes with the server for the GIL, and
so the server's CPU% (``os.times`` of the server process) counts the server only. It talks to the parent
over stdout, one line per event:

    READY            every client is connected (and the proxy is up)
    START / END      the measurement window, after ``warmup`` seconds; the parent samples its own CPU and
                     RSS at these two lines
    RESULT {json}    per client: (arrival time, age ms, bytes) of each frame received in the window

and then exits at once (``os._exit``): closing a connection that has seconds of backlog queued behind it
would only slow the suite down.

Client kinds (``groups[].kind``):
  livecam        the reference FrameClient: keeps ``grants`` requests outstanding, requests the next frame
                 after its ``work_s`` of simulated decode/paint (1 grant = what the browser widget does);
                 with ``batch`` > 1 it grants that many frames in one message once that many arrived
  push           baselines push-all / pending-flag: reads every message the server sends; like a browser,
                 it reads the socket eagerly and queues messages in memory (max_queue=None), so the
                 application sees them ``work_s`` apart
  window         baseline window-2: acks each frame as soon as it is received, then works ``work_s``
  stalled        connects, sends ``grants`` livecam requests (none for baselines), then never reads the
                 socket again: a raw TCP socket, so not even a library reads ahead
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import connect

from bench.measure import cpu_percent, cpu_sample
from bench.proxy import TokenBucketLink
from livecam_widget._protocol import unpack_frame
from livecam_widget.client import FrameClient

# (arrival time.time(), age ms, image bytes, capture->sent ms inside the server or None)
Record = list[tuple[float, float, int, float | None]]


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def livecam_client(
    url: str, grants: int, work_s: float, rec: Record, ready: asyncio.Event, batch: int = 1
) -> None:
    async with FrameClient(url) as client:
        ready.set()
        await client.request(grants)
        owed = 0
        while True:
            frame = await client.receive()
            server_ms = (float(frame.header["t_sent"]) - float(frame.header["t_capture"])) * 1000.0
            rec.append((frame.t_received, frame.age_ms, len(frame.data), server_ms))
            if work_s:
                await asyncio.sleep(work_s)
            owed += 1
            if owed >= batch:
                await client.request(owed)
                owed = 0


async def push_client(url: str, ack: bool, work_s: float, rec: Record, ready: asyncio.Event) -> None:
    async with connect(url, max_queue=None, max_size=None, compression=None, ping_interval=None) as ws:
        ready.set()
        while True:
            message = await ws.recv()
            now = time.time()
            if ack:
                await ws.send("ack")
            header, data = unpack_frame(message)  # type: ignore[arg-type]
            rec.append((now, (now - float(header["t_capture"])) * 1000.0, len(data), None))
            if work_s:
                await asyncio.sleep(work_s)


def _masked_text(payload: bytes) -> bytes:
    """A client->server WebSocket text frame (clients must mask), for payloads under 126 bytes."""
    mask = secrets.token_bytes(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def stalled_client(url: str, grants: int) -> socket.socket:
    """Open a WebSocket by hand, grant ``grants`` frames, and never read again."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    sock.sendall(
        (
            f"GET {target} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)  # byte by byte: stop reading exactly at the end of the handshake
        if not chunk:
            raise ConnectionError("stalled client: connection closed during the handshake")
        response += chunk
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"stalled client: handshake refused: {response[:80]!r}")
    for _ in range(grants):
        sock.sendall(_masked_text(b'{"type":"next"}'))
    return sock


async def main(spec: dict[str, Any]) -> None:
    url: str = spec["url"]
    link = None
    if spec.get("link_bps"):
        parts = urlsplit(url)
        link = TokenBucketLink((parts.hostname or "127.0.0.1", parts.port or 80), float(spec["link_bps"]))
        await link.start()
        url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{link.port}"))

    records: list[tuple[str, Record]] = []
    tasks = []
    readies = []
    keep = []  # stalled sockets: referenced so they stay open
    for group in spec["groups"]:
        kind = group["kind"]
        for _ in range(group.get("count", 1)):
            if kind == "stalled":
                keep.append(stalled_client(url, group.get("grants", 0)))
                continue
            rec: Record = []
            records.append((kind, rec))
            ready = asyncio.Event()
            readies.append(ready)
            work = float(group.get("work_s", 0.0))
            if kind == "livecam":
                grants, batch = int(group.get("grants", 1)), int(group.get("batch", 1))
                coro = livecam_client(url, grants, work, rec, ready, batch)
            else:
                coro = push_client(url, kind == "window", work, rec, ready)
            tasks.append(asyncio.create_task(coro))
    if readies:
        await asyncio.wait([asyncio.create_task(r.wait()) for r in readies], timeout=20)
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    emit("READY")
    await asyncio.sleep(float(spec.get("warmup", 2.0)))
    t_start, cpu0 = time.time(), cpu_sample()
    link0 = link.bytes_down if link else 0
    emit("START")
    await asyncio.sleep(float(spec["duration"]))
    t_end, cpu1 = time.time(), cpu_sample()
    emit("END")
    clients = []
    for kind, rec in records:
        window = [r for r in rec if t_start <= r[0] <= t_end]
        clients.append(
            {
                "kind": kind,
                "t": [round(r[0] - t_start, 4) for r in window],
                "age_ms": [round(r[1], 3) for r in window],
                "bytes": [r[2] for r in window],
                "server_ms": [round(r[3], 3) for r in window if r[3] is not None],
                # Frames received in total and the time of the last one: shows a client that froze.
                "total": len(rec),
                "last_at": round(rec[-1][0] - t_start, 3) if rec else None,
            }
        )
    result = {
        "t_start": t_start,
        "t_end": t_end,
        "cpu_percent": cpu_percent(cpu0, cpu1),
        "link_bps": (link.bytes_down - link0) * 8 / (t_end - t_start) if link else None,
        "failed": [repr(t.exception()) for t in tasks if t.done() and not t.cancelled() and t.exception()],
        "clients": clients,
    }
    emit("RESULT " + json.dumps(result))
    os._exit(0)  # no close handshakes, no task cleanup: see the module docstring


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
