"""A Jupyter server extension: the server's kernel WebSockets send without Nagle's delay.

The comm transport carries each frame from the kernel to the browser over the Jupyter server's kernel
WebSocket. tornado leaves Nagle's algorithm on for a WebSocket unless its handler calls
``set_nodelay(True)``, and jupyter_server's kernel handler does not. For every request the kernel publishes a
status message ("busy") just before the frame, so the frame waits in the server's socket until the browser
acknowledges the status message, and the browser delays that acknowledgement (40 ms on Linux, up to 200 ms
on Windows) because it has nothing to send back. Measured in JupyterLab, 480x240 at 30 fps over the comm:
kernel send -> browser socket p50 43 ms and 16.5 frames a second; with TCP_NODELAY on the kernel
WebSocket, 2 ms and 30.2 (the source's rate). It helps every kernel message, not only ours.

Enabled for jupyter_server by the file the wheel installs in ``etc/jupyter/jupyter_server_config.d`` when
livecam-widget is installed in the Jupyter server's environment; a running server picks it up when it is
restarted. All it does is call tornado's documented ``set_nodelay(True)`` on each kernel WebSocket as it
opens.
"""

from __future__ import annotations

import functools
from typing import Any

#: Set on the handler class once it is wrapped, so loading twice (several server apps) wraps once.
_WRAPPED = "_livecam_nodelay"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "livecam_widget._serverext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    try:
        from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
    except ImportError:  # a jupyter_server without this handler: leave it as it is
        serverapp.log.info("livecam-widget: no KernelWebsocketHandler in this jupyter_server: nothing done")
        return
    if getattr(KernelWebsocketHandler, _WRAPPED, False):
        return
    original: Any = KernelWebsocketHandler.open

    @functools.wraps(original)
    async def open(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.set_nodelay(True)
        return await original(self, *args, **kwargs)

    KernelWebsocketHandler.open = open  # type: ignore[method-assign]
    setattr(KernelWebsocketHandler, _WRAPPED, True)
    serverapp.log.info("livecam-widget: kernel WebSockets send without Nagle's delay (TCP_NODELAY)")
