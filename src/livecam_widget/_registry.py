"""Everything process-wide, in one place: the shared stream servers, device claims and the open widgets.

- Servers: one per (host, port) per kernel, started on first use, stopped when the last widget using it
  closes (reference counted).
- Device claims: re-running a notebook cell that opens camera 0 leaves the old widget alive (its threads
  hold it), and the camera reports busy; so opening a device closes its previous holder first.
- Open widgets: ``close_all()`` closes them; it also runs at interpreter exit (``atexit``), so cameras are
  released and viewers get a clean goodbye instead of a dropped connection.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import threading
import weakref
from typing import Protocol

from ._logs import redacting_logger
from ._server import FrameServer

log = redacting_logger("livecam_widget.server")


class Closable(Protocol):
    def close(self) -> object: ...


_lock = threading.Lock()
_servers: dict[tuple[str, int], FrameServer] = {}
_claims: dict[str, weakref.ref[Closable]] = {}
_open: weakref.WeakSet[Closable] = weakref.WeakSet()


# -- servers ------------------------------------------------------------------------------------------------
def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def acquire_server(host: str = "127.0.0.1", port: int = 0) -> FrameServer:
    """The shared server for ``host:port`` (port 0: this kernel's default), started on first use."""
    with _lock:
        server = _servers.get((host, port))
        if server is None or not server.running:
            if not _is_loopback_host(host):
                log.warning(
                    "livecam stream server listening on %s: reachable from other machines on that network "
                    "(every stream still needs its token)",
                    host or "all interfaces",
                )
            server = FrameServer(host, port)
            server.start()
            _servers[(host, port)] = server
        server.refs += 1
        return server


def release_server(server: FrameServer) -> None:
    """Drop one reference; the last one stops the server and frees its port."""
    with _lock:
        server.refs -= 1
        if server.refs > 0:
            return
        for key, known in list(_servers.items()):
            if known is server:
                del _servers[key]
    server.stop()


# -- devices ------------------------------------------------------------------------------------------------
def claim_device(key: str, owner: Closable) -> None:
    """Make ``owner`` the holder of ``key``, closing the previous holder first."""
    with _lock:
        previous_ref = _claims.get(key)
        _claims[key] = weakref.ref(owner)
    previous = previous_ref() if previous_ref is not None else None
    if previous is not None and previous is not owner:
        previous.close()


def release_device(key: str, owner: Closable) -> None:
    with _lock:
        ref = _claims.get(key)
        if ref is not None and ref() in (owner, None):
            del _claims[key]


# -- open widgets -------------------------------------------------------------------------------------------
def opened(widget: Closable) -> None:
    with _lock:
        _open.add(widget)


def closed(widget: Closable) -> None:
    with _lock:
        _open.discard(widget)


def close_all() -> None:
    """Close every open widget of this process."""
    with _lock:
        widgets = list(_open)
    for widget in widgets:
        with contextlib.suppress(Exception):
            widget.close()


atexit.register(close_all)
