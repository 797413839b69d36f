"""HTTP viewers beside the WebSocket server: an MJPEG stream, a JPEG snapshot and a standalone page.

Why a second listener: websockets' ``process_request`` can answer a request but not stream a response, and
MJPEG (``multipart/x-mixed-replace``) is an endless response. The standard library's
``ThreadingHTTPServer`` does that with no new dependency: one thread per HTTP viewer, whose blocking
``write`` is the backpressure (a slow viewer's thread simply waits, then takes the newest frame), and a small
send buffer so the kernel holds little more than one frame per viewer.

An MJPEG reader is a viewer like any other: a ``ViewerCore`` (the same pacing and bookkeeping as WebSocket
viewers), whose grant is "the previous part was acknowledged by TCP". Frames come from the same
``Stream.next_encoded`` through the server's door, so they share the encode-once cache and ``max_fps``.
This module sees a stream lookup and the door, not the server.

Every path is fixed and needs the widget's token; there is no file serving.
"""

from __future__ import annotations

import html
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2

try:  # Linux, macOS: bytes sent but not yet acknowledged by the peer
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - Windows
    _OUTQ = None

from . import _access, _frontend
from ._backlog import FIRST_PROBE_S, PIECE, ReaderBacklog, next_probe_s
from ._door import LoopDoor, LoopGone
from ._encoder import Encoded, Failure, describe_exception
from ._page import PAGE
from ._protocol import PATH_PREFIX
from ._stream import Stream, StreamClosed
from ._threads import Worker
from ._viewer import NOTHING_SENT, Limits, ViewerCore

_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)
#: Offset of ``tcpi_snd_wnd`` (the peer's advertised window, bytes) in Linux's ``struct tcp_info``.
_SND_WND_OFFSET = 228
#: Offset of ``tcpi_snd_mss`` (the segment size this side sends).
_SND_MSS_OFFSET = 16

BOUNDARY = "livecamframe"
#: Sent between parts to learn the reader's window (multipart parsers skip blank lines there).
PROBE = b"\r\n"
#: Kernel send buffer per HTTP viewer: about one 720p JPEG, so a slow viewer does not hide a queue there.
SEND_BUFFER = 128 * 1024
_POLL_S = 0.5
#: With no new frame for this long, an MJPEG reader gets the last part again (so at least once a second).
REPEAT_S = 0.5


def _tcp_info_u32(conn: socket.socket, offset: int) -> int | None:
    if _TCP_INFO is None:
        return None
    try:
        info = conn.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, offset + 4)
    except OSError:
        return None
    if len(info) < offset + 4:
        return None  # a kernel older than the field
    return int.from_bytes(info[offset : offset + 4], sys.byteorder)


def receive_window(conn: socket.socket) -> int | None:
    """The peer's receive window (``tcpi_snd_wnd`` of Linux's TCP_INFO), or None where there is none."""
    return _tcp_info_u32(conn, _SND_WND_OFFSET)


def segment_size(conn: socket.socket) -> int:
    """The segment size this connection sends (``tcpi_snd_mss``); 0 where unknown."""
    return _tcp_info_u32(conn, _SND_MSS_OFFSET) or 0


class _Handler(BaseHTTPRequestHandler):
    server: _ViewerHTTPServer
    _backlog: ReaderBacklog
    protocol_version = "HTTP/1.1"
    server_version = "livecam"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines carry tokens; nothing is logged

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _reply(self, status: int, body: bytes, content_type: str, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _route(self, head: bool) -> None:
        parts = urlsplit(self.path)
        viewers = self.server.viewers
        route = _access.stream_route(self.path)
        if route is None:
            return self._reply(404, b"not found\n", "text/plain", head)
        stream_id, leaf = route
        stream = viewers.lookup(stream_id)
        if stream is None or leaf not in ("", "widget.js", "snapshot.jpg", "stream.mjpg"):
            return self._reply(404, b"not found\n", "text/plain", head)
        token = _access.query_token(self.path)
        if not _access.token_matches(token, stream.token):
            return self._reply(403, b"missing or wrong token\n", "text/plain", head)
        if leaf == "":
            return self._reply(200, viewers.page(stream, token).encode(), "text/html; charset=utf-8", head)
        if leaf == "widget.js":
            return self._reply(200, viewers.esm.encode(), "text/javascript; charset=utf-8", head)
        if leaf == "snapshot.jpg":
            try:
                jpeg = viewers.snapshot(stream)
            except Exception as exc:  # process() failed on this frame: say so, like the widget does
                message = describe_exception("process()", exc)
                return self._reply(500, message.encode() + b"\n", "text/plain; charset=utf-8", head)
            if jpeg is None:
                return self._reply(503, b"no frame yet\n", "text/plain", head)
            return self._reply(200, jpeg, "image/jpeg", head)
        try:
            fps = float(parse_qs(parts.query).get("fps", ["0"])[0])
        except ValueError:
            fps = -1.0
        if not 0 <= fps < 1000:
            return self._reply(
                400, b"fps must be a number from 0 (no extra cap) to 1000\n", "text/plain", head
            )
        return self._mjpeg(stream, head, fps)

    def _mjpeg(self, stream: Stream, head: bool, fps: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if head:
            return
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # pieces go out as packets
        viewers = self.server.viewers
        clock = viewers.clock
        core = ViewerCore(viewers.limits, clock(), own_cap=fps)
        core.grant(clock())  # asking for the stream is the first grant
        self._backlog = ReaderBacklog()  # its resolution is read before each part (_send_part)
        part, sent_at = b"", clock()
        try:
            while not viewers.stopping.is_set():
                result = viewers.next_frame(stream, core)
                if result is None:
                    if viewers.lookup(stream.id) is None:
                        return  # the widget closed
                    if part and clock() - sent_at >= REPEAT_S:
                        # A still, paused or ended stream: readers such as FFmpeg's (cv2.VideoCapture) only
                        # finish a part when the next one begins, so the last one is sent again.
                        self._send_part(part)
                        sent_at = clock()
                    continue
                if isinstance(result, Failure):
                    core.failed((result.seq, result.rev))
                    continue
                core.sent(result, clock())
                head_lines = (
                    f"--{BOUNDARY}\r\nContent-Type: {result.mime}\r\nContent-Length: {len(result.data)}\r\n"
                    f"X-Livecam-Seq: {result.seq}\r\nX-Livecam-Capture-Time: {result.t_capture:.6f}\r\n\r\n"
                )
                part = head_lines.encode() + result.data + b"\r\n"
                self._send_part(part)
                sent_at = clock()
                core.grant(clock())  # acknowledged: the reader has room for the next part
        except (LoopGone, StreamClosed):
            return  # the widget closed, or the server stopped
        except (BrokenPipeError, ConnectionResetError, OSError):
            return  # the viewer went away

    def _send_part(self, part: bytes) -> None:
        """Send one part; return once the reader has read (nearly) all it was sent (see _backlog)."""
        viewers = self.server.viewers
        if self._backlog.growing and _TCP_INFO is not None:
            self.wfile.flush()
            for start in range(0, len(part), PIECE):  # see _backlog: each packet grows the window
                self.connection.sendall(part[start : start + PIECE])
        else:
            self.wfile.write(part)
            self.wfile.flush()
        viewers.wait_acked(self.connection)
        window = receive_window(self.connection)
        if window is None:  # no TCP_INFO window here: acknowledged is the best we know
            return
        backlog, clock, probe_s = self._backlog, viewers.clock, FIRST_PROBE_S
        backlog.resolution = segment_size(self.connection) or backlog.resolution  # settles as data flows
        backlog.see(window, len(part), clock(), part=True)
        while not backlog.may_send(len(part)) and not viewers.stopping.wait(probe_s):
            window = self._probe()
            if window is None:
                return
            backlog.see(window, len(PROBE), clock())
            probe_s = next_probe_s(probe_s)

    def _probe(self) -> int | None:
        """Two bytes multipart parsers skip between parts; their ACK carries the reader's window now."""
        self.wfile.write(PROBE)
        self.wfile.flush()
        self.server.viewers.wait_acked(self.connection)
        return receive_window(self.connection)


class _ViewerHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    viewers: HttpViewers


class HttpViewers(Worker):
    """The HTTP listener of one FrameServer; started on first use of an HTTP URL."""

    name = "livecam-http"

    def __init__(
        self,
        lookup: Callable[[str], Stream | None],
        door: LoopDoor,
        host: str,
        port: int = 0,
        *,
        ws_port: int,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.lookup = lookup
        self.door = door
        self.ws_port = ws_port
        self.limits = limits
        self.clock = clock
        self.stopping = threading.Event()
        self.esm, self.css = _frontend.load()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        _ViewerHTTPServer.address_family = family
        self._httpd = _ViewerHTTPServer((host, port), _Handler, bind_and_activate=True)
        self._httpd.viewers = self
        self.port: int = self._httpd.server_address[1]

    def _loop(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self, timeout: float = 5.0) -> bool:
        self.stopping.set()
        self._httpd.shutdown()
        ended = super().stop(timeout)
        self._httpd.server_close()
        return ended

    def page(self, stream: Stream, token: str) -> str:
        return PAGE.format(
            title=html.escape(stream.id),
            css=self.css,
            token=token,
            ws_port=self.ws_port,
            path=json.dumps(PATH_PREFIX + stream.id)[1:-1],
        )

    def next_frame(self, stream: Stream, core: ViewerCore) -> Encoded | Failure | None:
        """The newest frame after the last one sent, captured within the reader's pace; None to re-check for
        shutdown. Raises LoopGone when the server has stopped."""
        after, window = core.last_key, core.window(stream.look.max_fps)
        try:
            result = self.door.run(lambda: stream.next_encoded(after, window), _POLL_S)
        except TimeoutError:
            return None
        if isinstance(result, Encoded):
            core.picked(result.t_capture)
        return result

    def wait_acked(self, conn: socket.socket) -> None:
        """Wait until the peer has acknowledged everything sent (Linux TIOCOUTQ reaches 0).

        MJPEG has no feedback channel: without this, a slow reader's frames pile up in our send buffer
        and the picture falls behind (the troubleshooting note's bug). Waiting for the ACK leaves only the
        viewer's own receive buffer as a queue, which the server cannot see.
        """
        if _OUTQ is None:
            return
        buf = bytearray(4)
        while not self.stopping.is_set():
            try:
                fcntl.ioctl(conn.fileno(), _OUTQ, buf)
            except OSError:
                return
            if int.from_bytes(buf, sys.byteorder) == 0:
                return
            self.stopping.wait(0.002)

    def snapshot(self, stream: Stream) -> bytes | None:
        """The newest frame as JPEG (a request like a viewer's: an idle source is woken for it); None when
        there is none within a few seconds."""
        try:
            result = self.door.run(lambda: stream.next_encoded(NOTHING_SENT), 5.0)
        except (LoopGone, StreamClosed, TimeoutError):
            result = None
        if isinstance(result, Encoded) and result.mime == "image/jpeg":
            return result.data
        frame = stream.slot.peek()  # PNG streams, a failed render, or no new frame in time
        if frame is None:
            return None
        look = stream.look
        image = look.render(stream.cache.encoder, frame)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, look.settings.quality])
        return buf.tobytes() if ok else None
