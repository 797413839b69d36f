"""The Jupyter server extension (``_serverext``): each kernel WebSocket is set to TCP_NODELAY as it opens.

What it is for is measured in the browser tests (the comm transport's age in JupyterLab); what the wheel
does to enable it is checked by the package step of ``scripts/dev.sh test`` (``jupyter server extension
list`` in a fresh venv with only the wheel and jupyter_server). Here: the wrapping itself, on the real
handler class, with a recording stand-in for one connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

from livecam_widget import _serverext


class App:
    log = logging.getLogger("test-serverext")


def test_a_kernel_websocket_is_set_to_nodelay_before_it_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    async def original_open(self: Any, kernel_id: str) -> str:
        calls.append(("open", kernel_id))
        return "opened"

    monkeypatch.setattr(KernelWebsocketHandler, "open", original_open)
    monkeypatch.setattr(KernelWebsocketHandler, _serverext._WRAPPED, False, raising=False)
    assert _serverext._jupyter_server_extension_points() == [{"module": "livecam_widget._serverext"}]
    _serverext._load_jupyter_server_extension(App())
    _serverext._load_jupyter_server_extension(App())  # a second server app: wrapped once

    class Connection:
        def set_nodelay(self, value: bool) -> None:
            calls.append(("nodelay", value))

    result = asyncio.run(KernelWebsocketHandler.open(Connection(), "k1"))  # type: ignore[arg-type]
    assert result == "opened" and calls == [("nodelay", True), ("open", "k1")]
