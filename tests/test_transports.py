"""The three transports' server side: token as subprotocol, proxied handshakes, and the comm channel."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from typing import Any

import cv2
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from livecam_widget import LiveFrame, draw_code, read_code
from livecam_widget._protocol import unpack_frame
from livecam_widget.client import FrameClient
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("no_leaks")


def coded(value: int) -> np.ndarray:
    img = np.full((120, 320, 3), 40, np.uint8)
    draw_code(img, value, bits=16, block=16)
    return img


def base_url(lf: LiveFrame) -> str:
    return lf.url.split("?")[0]


def test_token_as_subprotocol_is_accepted_and_livecam_v1_is_echoed() -> None:
    async def scenario(lf: LiveFrame) -> None:
        offered = ["livecam.v1", f"livecam.token.{lf._token}"]
        async with connect(base_url(lf), subprotocols=offered) as ws:  # type: ignore[arg-type]
            assert ws.subprotocol == "livecam.v1"
            assert json.loads(await ws.recv())["type"] == "hello"
            await ws.send('{"type": "next"}')
            header, data = unpack_frame(await ws.recv())  # type: ignore[arg-type]
            assert data[:2] == b"\xff\xd8"  # a JPEG
            assert header["seq"] == 1
        with pytest.raises(InvalidStatus) as info:
            async with connect(base_url(lf), subprotocols=["livecam.v1", "livecam.token.wrong"]):  # type: ignore[list-item]
                pass
        assert info.value.response.status_code == 403

    with LiveFrame() as lf:
        lf.update(coded(1))
        asyncio.run(scenario(lf))


def test_a_handshake_forwarded_by_the_pages_server_is_accepted_from_its_public_origin() -> None:
    """jupyter-server-proxy forwards the browser's headers as they came: under JupyterHub the Origin is the
    hub's public address and so is Host (JupyterHub found this: 403 for every proxied view). Accepted when
    Origin is exactly the Host the request was sent to and that is not this listener; refused otherwise."""

    async def status(lf: LiveFrame, origin: str, host: str) -> int:
        path = lf.url.split("/", 3)[3]  # livecam/v1/<id>?token=...
        try:
            # The URL gives Host; the socket still goes to this machine's listener (create_connection's
            # host and port), as a local proxy's would.
            async with connect(f"ws://{host}/{path}", origin=origin, host="127.0.0.1", port=lf.port):  # type: ignore[arg-type]
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    with LiveFrame() as lf:
        port = lf.port
        assert asyncio.run(status(lf, "http://hub.example.org:8000", "hub.example.org:8000")) == 101
        assert asyncio.run(status(lf, "https://hub.example.org", "hub.example.org:443")) == 101
        # Sent to this listener itself: judged by the policy, which does not know the page.
        assert asyncio.run(status(lf, "http://hub.example.org:8000", f"127.0.0.1:{port}")) == 403
        # A page whose name was made to point at this machine (DNS rebinding) reaches this port: refused.
        assert asyncio.run(status(lf, f"http://evil.example:{port}", f"evil.example:{port}")) == 403
        assert asyncio.run(status(lf, "http://hub.example.org:8000", "other.example:8000")) == 403
        assert asyncio.run(status(lf, "https://hub.example.org", "hub.example.org:8000")) == 403


class RecordingLiveFrame(LiveFrame):
    """Records what goes out over the comm, so a test can play the browser's part deterministically."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.outbox: queue.Queue[tuple[dict[str, Any], list[bytes]]] = queue.Queue()
        super().__init__(*args, **kwargs)

    def send(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        self.outbox.put((content, list(buffers or [])))

    def browser(self, view: str, **content: Any) -> None:
        """What the frontend's model.send() delivers to the kernel."""
        self._on_comm_message(self, {"view": view, **content}, [])

    def receive(self, view: str, kind: str, timeout: float = 5.0) -> tuple[dict[str, Any], list[bytes]]:
        while True:
            content, buffers = self.outbox.get(timeout=timeout)
            if content.get("view") == view and content.get("livecam") == kind:
                return content, buffers


def test_comm_transport_speaks_the_same_pull_protocol() -> None:
    with RecordingLiveFrame() as lf:
        lf.update(coded(5))
        lf.browser("v1", livecam="open")
        hello, _ = lf.receive("v1", "text")
        assert json.loads(hello["text"])["type"] == "hello"
        lf.browser("v1", livecam="message", text='{"type": "next"}')
        frame, buffers = lf.receive("v1", "frame")
        assert frame["header"]["seq"] == 1 and len(buffers) == 1
        image = cv2.imdecode(np.frombuffer(buffers[0], np.uint8), cv2.IMREAD_COLOR)
        assert read_code(image, 16, block=16) == 5
        # One frame per grant: nothing more arrives until the browser asks again.
        lf.update(coded(6))
        with pytest.raises(queue.Empty):
            lf.receive("v1", "frame", timeout=0.3)
        painted = {"seq": 1, "rev": 0}
        lf.browser("v1", livecam="message", text=json.dumps({"type": "next", "painted": painted}))
        frame, buffers = lf.receive("v1", "frame")
        assert frame["header"]["seq"] == 2
        wait_for(lambda: lf.stats.get("clients") == 1 and lf.stats.get("fps_painted", 0) > 0, timeout=5)
        # Another view of the same widget is its own client.
        lf.browser("v2", livecam="open")
        lf.receive("v2", "text")
        lf.browser("v1", livecam="close")
        wait_for(lambda: lf.stats.get("clients") == 1, timeout=5)


def test_the_stats_say_which_kernel_thread_handled_the_comm_requests() -> None:
    """Seen at run time, not assumed: the main thread (requests wait for the cell to end) or a subshell's
    thread (ipykernel 7 with a frontend that uses subshells). Both may deliver; each says where."""
    with RecordingLiveFrame() as lf:
        lf.update(coded(1))
        assert "comm_requests_on" not in lf.stats  # no comm request yet
        lf.browser("v1", livecam="open")
        lf.receive("v1", "text")
        wait_for(lambda: lf.stats.get("comm_requests_on") == "main thread", timeout=5)
        subshell = threading.Thread(
            target=lf.browser, args=("v1",), kwargs={"livecam": "message", "text": '{"type":"next"}'}
        )
        subshell.start()
        subshell.join()
        lf.receive("v1", "frame")  # served all the same
        wait_for(lambda: lf.stats.get("comm_requests_on") == "subshell", timeout=5)
        content, _ = lf.receive("v1", "text")
        while json.loads(content["text"]).get("comm_requests_on") != "subshell":  # the view is told too
            content, _ = lf.receive("v1", "text")


def test_comm_protocol_violations_close_only_that_view() -> None:
    with RecordingLiveFrame() as lf:
        lf.update(coded(1))
        lf.browser("bad", livecam="open")
        lf.browser("good", livecam="open")
        lf.receive("bad", "text")
        lf.receive("good", "text")
        lf.browser("bad", livecam="message", text="{not json")
        closed, _ = lf.receive("bad", "close")
        assert closed["code"] == 1008
        lf.browser("good", livecam="message", text='{"type": "next"}')
        frame, _ = lf.receive("good", "frame")
        assert frame["header"]["seq"] == 1
        lf.browser(123, livecam="open")  # type: ignore[arg-type]  # junk is ignored, not fatal
        lf._on_comm_message(lf, "junk", [])


def test_a_vscode_webview_handshake_is_accepted_with_the_token_only() -> None:
    """VS Code's notebook webviews connect directly (their origin is vscode-webview://<id>); the token is
    still required."""
    webview = "vscode-webview://1ks6ocisc3hm62ffedtm1mr9ruk56jncbg9pta8m1n72ujugu8c1"
    with LiveFrame("testpattern:160x120") as lf:

        async def scenario() -> None:
            async with FrameClient(lf.url, origin=webview) as client:
                assert (await client.next(timeout=5)).seq >= 1
            with pytest.raises(InvalidStatus) as refused:
                async with FrameClient(lf.url.split("?")[0] + "?token=wrong", origin=webview):
                    pass
            assert refused.value.response.status_code == 403

        asyncio.run(scenario())
