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


def parse_client_message(message: str | bytes) -> NextRequest | Pointer:
    if isinstance(message, (bytes, bytearray, memoryview)):
        raise ProtocolError(CLOSE_UNSUPPORTED, "binary messages are not accepted")
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
    if kind != "next":
        shown = kind if isinstance(kind, str) and len(kind) <= 32 else type(kind).__name__
        raise ProtocolError(CLOSE_POLICY, f"unknown message type {shown!r}")
    painted = obj.get("painted")
    if painted is None:
        return NextRequest()
    if not isinstance(painted, dict):
        raise ProtocolError(CLOSE_POLICY, "painted must be an object")
    return NextRequest(
        Painted(
            seq=_int(painted.get("seq"), "seq"),
            rev=_int(painted.get("rev", 0), "rev"),
            decode_ms=_number(painted.get("decode_ms")),
            paint_ms=_number(painted.get("paint_ms")),
        )
    )


def hello(max_outstanding: int, max_messages_per_s: float, state: str) -> str:
    return json.dumps(
        {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "max_outstanding": max_outstanding,
            "max_messages_per_s": max_messages_per_s,
            "state": state,
        }
    )


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
VIEWER_STATS_FIELDS = ("fps_sent", "latency_ms", "quality_level")


def stats_message(stream: dict[str, Any], viewer: dict[str, Any]) -> str:
    """The once-a-second ``stats`` message: kernel-side numbers, so an overlay works while a cell runs."""
    message: dict[str, Any] = {"type": "stats"}
    message.update({key: stream.get(key) for key in STATS_FIELDS})
    message.update({key: viewer.get(key) for key in VIEWER_STATS_FIELDS})
    return json.dumps(message, separators=(",", ":"))
