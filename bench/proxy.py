"""A bandwidth-limited TCP link on 127.0.0.1: a token-bucket proxy that never buffers more than one chunk.

Why not asyncio streams or protocols: both read ahead from the socket into userspace (64-256 KB) whatever
the consumer does, so the proxy itself would become a hidden queue. Here each direction reads with
``loop.sock_recv(sock, n)`` only as many bytes as it currently has tokens for; everything the sender
produces beyond that waits in the kernel socket buffers (the sender's send buffer and the proxy's receive
buffer), and TCP flow control pushes back on the sender exactly as a real slow link would.

Both directions are shaped to the same rate; the client -> server direction only carries small grant/ack
messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time


class TokenBucketLink:
    """Listen on 127.0.0.1 (ephemeral port) and relay every connection to ``upstream`` at ``rate_bps``."""

    def __init__(self, upstream: tuple[str, int], rate_bps: float) -> None:
        self.upstream = upstream
        self.rate = rate_bps / 8.0  # bytes per second
        # Burst of ~5 ms of link time (at least 4 KB): small enough that a frame's transfer time is set by
        # the rate, large enough that the sleep granularity of the event loop (~1 ms) costs no throughput.
        self.burst = max(4096.0, self.rate * 0.005)
        self.min_chunk = min(1460.0, self.burst)  # ~one TCP segment: do not wake up for a few bytes
        self.bytes_down = 0  # server -> client, for checking the achieved rate
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        self._listener = sock
        self.port = sock.getsockname()[1]
        self._spawn(self._accept_loop())

    def _spawn(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            client, _ = await loop.sock_accept(self._listener)
            client.setblocking(False)
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setblocking(False)
            await loop.sock_connect(server, self.upstream)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._spawn(self._pump(server, client, down=True))
            self._spawn(self._pump(client, server, down=False))

    async def _pump(self, src: socket.socket, dst: socket.socket, down: bool) -> None:
        loop = asyncio.get_running_loop()
        tokens = self.burst
        last = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                tokens = min(self.burst, tokens + (now - last) * self.rate)
                last = now
                if tokens < self.min_chunk:
                    await asyncio.sleep((self.min_chunk - tokens) / self.rate)
                    continue
                data = await loop.sock_recv(src, int(tokens))
                if not data:
                    break
                # Tokens are spent when the bytes leave the kernel buffer, i.e. now; time spent waiting in
                # sock_recv for data to arrive is idle link time, which refills the bucket only up to burst.
                now = time.monotonic()
                tokens = min(self.burst, tokens + (now - last) * self.rate) - len(data)
                last = now
                if down:
                    self.bytes_down += len(data)
                await loop.sock_sendall(dst, data)
        except (OSError, ValueError):  # the other direction closed the socket under us
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                src.close()

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._listener is not None:
            self._listener.close()
