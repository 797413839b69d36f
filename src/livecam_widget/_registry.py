"""Everything process-wide, in one place: the shared stream servers, device claims and the open widgets.

- Servers: one per (host, port) per kernel, started on first use, stopped when the last widget using it
  closes (reference counted).
- Device claims: re-running a notebook cell that opens camera 0 leaves the old widget alive (its threads
  hold it), and the camera reports busy; so opening a device closes its previous holder first.
- Open widgets: ``close_all()`` closes them; it also runs at interpreter exit (``atexit``), so cameras are
  released and viewers get a clean goodbye instead of a dropped connection.
- Cells: re-running a notebook cell replaces the widgets its earlier runs made. JupyterLab and Notebook 7
  send the cell's id in each execute request's metadata (``cellId``); a widget remembers the cell
  and the request that made it, and a request from the same cell with a new message id closes them.
  Without a cell id (a script, a console, an older frontend) nothing is closed.
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


class Replaceable(Protocol):
    def close(self, *, keep_view: bool = True) -> None: ...


#: (cellId, msg_id) of one run of a cell.
CellRun = tuple[str, str]


_lock = threading.Lock()
_servers: dict[tuple[str, int], FrameServer] = {}
_claims: dict[str, weakref.ref[Closable]] = {}
_open: weakref.WeakSet[Closable] = weakref.WeakSet()
_cells: dict[str, tuple[str, list[weakref.ref[Replaceable]]]] = {}


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


# -- cells --------------------------------------------------------------------------------------------------
def current_cell() -> CellRun | None:
    """The cell id and message id of the execute request running now, if the frontend sent a cell id."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    kernel = getattr(get_ipython(), "kernel", None)
    get_parent = getattr(kernel, "get_parent", None)
    try:
        parent = get_parent("shell") if callable(get_parent) else getattr(kernel, "_parent_header", None)
    except Exception:
        return None
    if not isinstance(parent, dict):
        return None
    metadata, header = parent.get("metadata") or {}, parent.get("header") or {}
    cell, run = metadata.get("cellId"), header.get("msg_id")
    if isinstance(cell, str) and cell and isinstance(run, str) and run:
        return cell, run
    return None


def close_earlier_runs(cell: CellRun) -> None:
    """Close (views too: the frontend cleared that output) the widgets made by earlier runs of ``cell``."""
    cell_id, run = cell
    with _lock:
        known = _cells.get(cell_id)
        if known is None or known[0] == run:
            return
        del _cells[cell_id]
    for ref in known[1]:
        widget = ref()
        if widget is not None:
            with contextlib.suppress(Exception):
                widget.close(keep_view=False)


def made_in(cell: CellRun, widget: Replaceable) -> None:
    """Remember that ``widget`` was made by this run of its cell."""
    cell_id, run = cell
    with _lock:
        known = _cells.get(cell_id)
        if known is None or known[0] != run:
            known = _cells[cell_id] = (run, [])
        known[1].append(weakref.ref(widget))


atexit.register(close_all)
