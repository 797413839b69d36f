"""Which browser pages may open a stream (the WebSocket ``Origin`` check)."""

from __future__ import annotations

import ipaddress
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

ENV_VAR = "LIVECAM_ALLOWED_ORIGINS"


def origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_loopback(origin: str) -> bool:
    host = urlsplit(origin).hostname
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: VS Code's notebook webviews: ``vscode-webview://<id>`` (a base32 id, or a UUID in older versions), and
#: VS Code for the Web's ``https://<id>.vscode-cdn.net``. No web page can have such an origin; the token is
#: still required.
_VSCODE = re.compile(
    r"^(?:vscode-webview://(?:[a-z0-9]{16,64}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"|https://[a-z0-9]{16,64}\.vscode-cdn\.net)/?$"
)


def is_vscode(origin: str) -> bool:
    return _VSCODE.match(origin.strip().lower()) is not None


def _running_jupyter_origins() -> set[str]:
    try:
        from jupyter_server.serverapp import list_running_servers
    except Exception:
        return set()
    found = set()
    try:
        for info in list_running_servers():
            origin = origin_of(str(info.get("url", "")))
            if origin:
                found.add(origin)
    except Exception:
        pass
    return found


class OriginPolicy:
    """Allowed: no Origin (non-browser clients, still token-checked), loopback origins, VS Code's notebook
    webviews, the origins of Jupyter servers on this machine, and the ``extra`` ones (``"*"`` allows all)."""

    #: Jupyter's runtime files are re-read at most this often, so refused handshakes cannot make us hit disk.
    REFRESH_S = 5.0

    def __init__(
        self,
        extra: Iterable[str] = (),
        *,
        env: str | None = None,
        jupyter_origins: Callable[[], set[str]] = _running_jupyter_origins,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        items = [*extra, *(env if env is not None else os.environ.get(ENV_VAR, "")).split(",")]
        self.allow_all = any(item.strip() == "*" for item in items)
        self.extra = {o for o in (origin_of(i) for i in items if i.strip() not in ("", "*")) if o}
        self._jupyter_origins = jupyter_origins
        self._clock = clock
        self._known: set[str] = set()
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def allows(self, origin: str | None) -> bool:
        if origin is None or self.allow_all or is_vscode(origin):
            return True
        normalized = origin_of(origin)
        if normalized is None:
            return False
        if is_loopback(normalized) or normalized in self.extra:
            return True
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self.REFRESH_S:
                self._read_at = now
                self._known = self._jupyter_origins()
            return normalized in self._known
