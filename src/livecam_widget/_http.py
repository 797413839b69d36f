"""HTTP viewers beside the WebSocket server: an MJPEG stream, a JPEG snapshot and a standalone page.

Why a second listener: websockets' ``process_request`` can answer a request but not stream a response, and
MJPEG (``multipart/x-mixed-replace``) is an endless response. The standard library's
``ThreadingHTTPServer`` does that with no new dependency: one thread per HTTP viewer, whose blocking
``write`` is the backpressure (a slow viewer's thread simply waits, then takes the newest frame), and a small
send buffer so the kernel holds little more than one frame per viewer. Frames come from the same
``Stream.next_encoded`` as WebSocket viewers, so they share the encode-once cache and the ``max_fps`` cap.

Every path is fixed and needs the widget's token; there is no file serving.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import html
import json
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import cv2

try:  # Linux, macOS: bytes sent but not yet acknowledged by the peer
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - Windows
    _OUTQ = None

from . import _frontend
from ._encoder import Encoded, Failure, describe_exception
from ._pacing import Pacer
from ._protocol import PATH_PREFIX
from ._threads import Worker

if TYPE_CHECKING:
    from ._server import FrameServer, Stream

BOUNDARY = "livecamframe"
#: Kernel send buffer per HTTP viewer: about one 720p JPEG, so a slow viewer does not hide a queue there.
SEND_BUFFER = 128 * 1024
_POLL_S = 0.5

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>livecam: {title}</title><link rel="icon" href="data:,">
<style>body{{margin:0;background:#111;color:#ddd;font:14px sans-serif}} #view{{max-width:100vw}}
{css}</style></head>
<body><div id="view"></div>
<script type="module">
import widget from "./widget.js?token={token}";
const url = `${{location.protocol === "https:" ? "wss" : "ws"}}://${{location.hostname}}:{ws_port}{path}`;
const state = {{ _url: url, _token: "{token}", _closed: false, transport: "websocket" }};
const model = {{ get: (k) => state[k], on() {{}}, off() {{}} }};
widget.render({{ model, el: document.getElementById("view") }});
</script></body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    server: _ViewerHTTPServer
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
        route = parts.path
        viewers = self.server.viewers
        if not route.startswith(PATH_PREFIX):
            return self._reply(404, b"not found\n", "text/plain", head)
        stream_id, _, leaf = route[len(PATH_PREFIX) :].partition("/")
        stream = viewers.frame_server.stream(stream_id)
        if stream is None or leaf not in ("", "widget.js", "snapshot.jpg", "stream.mjpg"):
            return self._reply(404, b"not found\n", "text/plain", head)
        token = parse_qs(parts.query).get("token", [""])[0]
        if not hmac.compare_digest(token.encode(), stream.token.encode()):
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
        viewers = self.server.viewers
        pacer = Pacer(stream.max_fps)
        last = (0, -1)
        try:
            while not viewers.stopping.is_set():
                result = viewers.next_frame(stream, last, pacer, fps)
                if result is None:
                    if viewers.frame_server.stream(stream.id) is None:
                        return  # the widget closed
                    continue
                last = (result.seq, result.rev)
                if isinstance(result, Failure):
                    continue
                head_lines = (
                    f"--{BOUNDARY}\r\nContent-Type: {result.mime}\r\nContent-Length: {len(result.data)}\r\n"
                    f"X-Livecam-Seq: {result.seq}\r\nX-Livecam-Capture-Time: {result.t_capture:.6f}\r\n\r\n"
                )
                self.wfile.write(head_lines.encode() + result.data + b"\r\n")
                self.wfile.flush()
                viewers.wait_acked(self.connection)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return  # the viewer went away


class _ViewerHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    viewers: HttpViewers


class HttpViewers(Worker):
    """The HTTP listener of one FrameServer; started on first use of an HTTP URL."""

    name = "livecam-http"

    def __init__(self, frame_server: FrameServer, host: str, port: int = 0) -> None:
        super().__init__()
        self.frame_server = frame_server
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
            ws_port=self.frame_server.port,
            path=json.dumps(PATH_PREFIX + stream.id)[1:-1],
        )

    def _in_loop(self, make: Callable[[], Any], timeout: float) -> Any:
        loop = self.frame_server.loop
        if loop is None or loop.is_closed():
            return None
        future = asyncio.run_coroutine_threadsafe(make(), loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return None
        except (concurrent.futures.CancelledError, RuntimeError):
            return None

    def next_frame(
        self, stream: Stream, last: tuple[int, int], pacer: Pacer, fps: float = 0.0
    ) -> Encoded | Failure | None:
        """The newest frame after ``last`` once the viewer's pace allows; None to re-check for shutdown.

        ``fps`` is the viewer's own cap (``?fps=`` in the URL), applied below the widget's ``max_fps``."""
        caps = [c for c in (stream.max_fps, fps) if c > 0]
        pacer.max_fps = min(caps) if caps else 0.0
        delay = pacer.delay(self.frame_server.clock())
        if delay > 0 and self.stopping.wait(delay):
            return None
        result = self._in_loop(lambda: stream.next_encoded(last), _POLL_S)
        if isinstance(result, Encoded):
            pacer.sent(self.frame_server.clock())
        return result  # type: ignore[no-any-return]

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
        frame = stream.slot.peek()
        if frame is None:
            return None
        result = self._in_loop(lambda: stream.next_encoded((0, -1)), 5.0)
        if isinstance(result, Encoded) and result.mime == "image/jpeg":
            return result.data
        image = stream.encoder.render(frame, stream.rev, stream.settings, stream.process)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, stream.settings.quality])
        return buf.tobytes() if ok else None
