"""Wire protocol v1 (docs/protocol.md), as pure functions: no sockets here."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = 1
PATH_PREFIX = "/livecam/v1/"
#: Offered by the frontend with ``livecam.token.<T>``; the server echoes it back.
SUBPROTOCOL = "livecam.v1"
TOKEN_SUBPROTOCOL = "livecam.token."
#: Largest text message a client may send. A `next` with a paint report is ~120 bytes.
MAX_CLIENT_MESSAGE = 4096
_LEN = struct.Struct(">I")

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011


class ProtocolError(Exception):
    """A client broke the protocol; ``code`` is the WebSocket close code to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Painted:
    seq: int
    rev: int
    decode_ms: float | None = None
    paint_ms: float | None = None


@dataclass(frozen=True)
class NextRequest:
    painted: Painted | None = None
    #: The client lost its video decoder's state: its next video frame must be a keyframe.
    key: bool = False
    #: Frames granted by this one message (``n``): a fast client grants several at once instead of sending
    #: one message per frame, which the message rate limit would otherwise cap (docs/protocol.md).
    count: int = 1


#: Video codecs a client may offer (docs/protocol.md, "Video frames"); other names are ignored. "h264":
#: Constrained Baseline, 4:2:0; "h264-444": High 4:4:4 Predictive, which the server prefers when offered.
VIDEO_CODECS = ("h264", "h264-444")
MAX_CODECS = 8


@dataclass(frozen=True)
class VideoOffer:
    """The video codecs a view decodes (empty: it withdraws an earlier offer)."""

    codecs: frozenset[str]


#: Largest coordinate a pointer message may carry; frames are at most 16384 pixels a side.
MAX_COORDINATE = 65535
MAX_BUTTON = 4


@dataclass(frozen=True)
class Pointer:
    """A click (``x0, y0`` = ``x1, y1``) or a drag from ``(x0, y0)`` to ``(x1, y1)``; source frame pixels."""

    event: str  # "click" or "drag"
    x0: int
    y0: int
    x1: int
    y1: int
    button: int = 0


@dataclass(frozen=True)
class CameraClaim:
    """A view offers its browser's camera (``auto``: only if no view captures yet; else it takes over)."""

    auto: bool


@dataclass(frozen=True)
class CameraError:
    """The view's browser could not capture: the DOMException's name and message."""

    name: str
    message: str


@dataclass(frozen=True)
class CameraFrame:
    """One camera frame from the capturing view, answering capture request ``ask``.

    Times are the browser's wall clock in ms: when the frame was captured, when the request arrived, when
    this answer left (the last two let the kernel translate the first to its own clock)."""

    ask: int
    mime: str
    t_capture: float
    t_received: float
    t_sent: float
    fps: float | None
    payload: bytes


#: Image types a camera frame may carry (what browsers encode from a canvas).
CAMERA_MIMES = ("image/jpeg", "image/webp", "image/png")
#: What a view may send, one message each.
ClientMessage = NextRequest | VideoOffer | Pointer | CameraClaim | CameraError | CameraFrame


def pack_frame(header: dict[str, Any], payload: bytes) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join((_LEN.pack(len(head)), head, payload))


def unpack_frame(message: bytes) -> tuple[dict[str, Any], bytes]:
    if len(message) < _LEN.size:
        raise ValueError(f"frame message too short: {len(message)} bytes")
    (n,) = _LEN.unpack_from(message)
    if _LEN.size + n > len(message):
        raise ValueError(f"frame header length {n} exceeds the message ({len(message)} bytes)")
    header = json.loads(message[_LEN.size : _LEN.size + n])
    if not isinstance(header, dict) or "seq" not in header or "mime" not in header:
        raise ValueError("frame header must be a JSON object with seq and mime")
    return header, message[_LEN.size + n :]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(CLOSE_POLICY, f"painted.{name} must be an integer")
    return value


def _coordinate(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COORDINATE:
        raise ProtocolError(CLOSE_POLICY, f"pointer.{name} must be an integer 0..{MAX_COORDINATE}")
    return value


def _parse_pointer(obj: dict[str, Any]) -> Pointer:
    event = obj.get("event")
    button = obj.get("button", 0)
    if isinstance(button, bool) or not isinstance(button, int) or not 0 <= button <= MAX_BUTTON:
        raise ProtocolError(CLOSE_POLICY, f"pointer.button must be an integer 0..{MAX_BUTTON}")
    if event == "click":
        x, y = _coordinate(obj, "x"), _coordinate(obj, "y")
        return Pointer("click", x, y, x, y, button)
    if event == "drag":
        names = ("x0", "y0", "x1", "y1")
        x0, y0, x1, y1 = (_coordinate(obj, name) for name in names)
        return Pointer("drag", x0, y0, x1, y1, button)
    raise ProtocolError(CLOSE_POLICY, 'pointer.event must be "click" or "drag"')


def _text(obj: dict[str, Any], name: str, limit: int) -> str:
    value = obj.get(name, "")
    if not isinstance(value, str):
        raise ProtocolError(CLOSE_POLICY, f"camera_error.{name} must be a string")
    return value[:limit]


def _time(header: dict[str, Any], name: str) -> float:
    value = _number(header.get(name))
    if value is None or value < 0:
        raise ProtocolError(CLOSE_POLICY, f"camera frame {name} must be a time in ms")
    return value


def parse_camera_frame(message: bytes, max_bytes: int) -> CameraFrame:
    """A binary message: a camera frame, framed as the server's frames are (docs/protocol.md)."""
    if max_bytes <= 0:
        raise ProtocolError(CLOSE_UNSUPPORTED, "binary messages are accepted only from a browser camera")
    if len(message) > max_bytes:
        raise ProtocolError(CLOSE_TOO_BIG, f"camera frame over {max_bytes} bytes")
    data = bytes(message)
    if len(data) < _LEN.size:
        raise ProtocolError(CLOSE_POLICY, "camera frame too short")
    (n,) = _LEN.unpack_from(data)
    if n > MAX_CLIENT_MESSAGE or _LEN.size + n > len(data):
        raise ProtocolError(CLOSE_POLICY, "camera frame header length out of range")
    try:
        header = json.loads(data[_LEN.size : _LEN.size + n])
    except (ValueError, RecursionError):
        raise ProtocolError(CLOSE_POLICY, "camera frame header is not valid JSON") from None
    if not isinstance(header, dict) or header.get("type") != "camera":
        raise ProtocolError(CLOSE_POLICY, 'camera frame header must be a JSON object of type "camera"')
    ask = header.get("ask")
    if isinstance(ask, bool) or not isinstance(ask, int) or ask < 1:
        raise ProtocolError(CLOSE_POLICY, "camera frame ask must be a positive integer")
    mime = header.get("mime")
    if mime not in CAMERA_MIMES:
        raise ProtocolError(CLOSE_POLICY, f"camera frame mime must be one of {', '.join(CAMERA_MIMES)}")
    payload = data[_LEN.size + n :]
    if not payload:
        raise ProtocolError(CLOSE_POLICY, "camera frame without an image")
    return CameraFrame(
        ask=ask,
        mime=mime,
        t_capture=_time(header, "t_capture"),
        t_received=_time(header, "t_received"),
        t_sent=_time(header, "t_sent"),
        fps=_number(header.get("fps")),
        payload=payload,
    )


def parse_client_message(message: str | bytes, max_upload: int = 0) -> ClientMessage:
    """One message from a view. Binary messages are camera frames, taken only up to ``max_upload`` bytes
    (0: none, for a widget whose source is not the browser)."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        return parse_camera_frame(bytes(message), max_upload)
    if len(message) > MAX_CLIENT_MESSAGE:
        raise ProtocolError(CLOSE_TOO_BIG, f"message over {MAX_CLIENT_MESSAGE} bytes")
    try:
        obj = json.loads(message)
    except (ValueError, RecursionError):
        raise ProtocolError(CLOSE_POLICY, "message is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError(CLOSE_POLICY, "message must be a JSON object")
    kind = obj.get("type")
    if kind == "pointer":
        return _parse_pointer(obj)
    if kind in ("camera_claim", "camera_error") and max_upload <= 0:
        raise ProtocolError(CLOSE_POLICY, f"{kind}: this widget's source is not the browser")
    if kind == "video":
        return _parse_video(obj)
    if kind == "camera_claim":
        return CameraClaim(auto=obj.get("auto") is True)
    if kind == "camera_error":
        return CameraError(_text(obj, "name", 64), _text(obj, "message", 300))
    if kind != "next":
        shown = kind if isinstance(kind, str) and len(kind) <= 32 else type(kind).__name__
        raise ProtocolError(CLOSE_POLICY, f"unknown message type {shown!r}")
    key = obj.get("key", False)
    if not isinstance(key, bool):
        raise ProtocolError(CLOSE_POLICY, "next.key must be true or false")
    count = obj.get("n", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ProtocolError(CLOSE_POLICY, "next.n must be a positive integer (frames granted)")
    painted = obj.get("painted")
    if painted is None:
        return NextRequest(key=key, count=count)
    if not isinstance(painted, dict):
        raise ProtocolError(CLOSE_POLICY, "painted must be an object")
    return NextRequest(
        Painted(
            seq=_int(painted.get("seq"), "seq"),
            rev=_int(painted.get("rev", 0), "rev"),
            decode_ms=_number(painted.get("decode_ms")),
            paint_ms=_number(painted.get("paint_ms")),
        ),
        key=key,
        count=count,
    )


def _parse_video(obj: dict[str, Any]) -> VideoOffer:
    codecs = obj.get("codecs")
    if (
        not isinstance(codecs, list)
        or len(codecs) > MAX_CODECS
        or not all(isinstance(name, str) and len(name) <= 16 for name in codecs)
    ):
        accepted = f"a list of at most {MAX_CODECS} names of at most 16 characters"
        raise ProtocolError(CLOSE_POLICY, f"video.codecs must be {accepted}")
    return VideoOffer(frozenset(name for name in codecs if name in VIDEO_CODECS))


def hello(
    max_outstanding: int, max_messages_per_s: float, state: str, camera: dict[str, Any] | None = None
) -> str:
    message: dict[str, Any] = {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "max_outstanding": max_outstanding,
        "max_messages_per_s": max_messages_per_s,
        "state": state,
    }
    if camera is not None:
        message["camera"] = camera  # the source is the viewer's browser camera: what to capture
    return json.dumps(message)


def capture(ask: int) -> str:
    """To the capturing view: send your newest camera frame, once, answering ``ask``."""
    return json.dumps({"type": "capture", "ask": ask})


def camera_role(capturing: bool, taken: bool) -> str:
    """To each view of a browser-camera widget: whether it captures, and whether any view does."""
    return json.dumps({"type": "camera", "capturing": capturing, "taken": taken})


def status(state: str, error: str | None) -> str:
    return json.dumps({"type": "status", "state": state, "error": error})


#: What a viewer's overlay shows of the kernel's numbers; the stream-wide ones plus this viewer's own.
STATS_FIELDS = (
    "fps_source",
    "dropped",
    "clients",
    "encode_ms",
    "bytes_per_frame",
    "frame_size",
)
VIEWER_STATS_FIELDS = ("fps_sent", "latency_ms", "quality_level", "codec")


def stats_message(stream: dict[str, Any], viewer: dict[str, Any]) -> str:
    """The once-a-second ``stats`` message: kernel-side numbers, so an overlay works while a cell runs."""
    message: dict[str, Any] = {"type": "stats"}
    message.update({key: stream.get(key) for key in STATS_FIELDS})
    message.update({key: viewer.get(key) for key in VIEWER_STATS_FIELDS})
    if stream.get("camera") is not None:  # a browser camera's numbers (only such a widget has them)
        message["camera"] = stream["camera"]
    if stream.get("format") is not None:  # the widget's format: a view that cannot decode video says so
        message["format"] = stream["format"]
    if stream.get("comm_requests_on") is not None:  # which kernel thread handles comm requests
        message["comm_requests_on"] = stream["comm_requests_on"]
    return json.dumps(message, separators=(",", ":"))
