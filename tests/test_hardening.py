"""Bad input, hostile clients, faults and leaks, each tried for real."""

from __future__ import annotations

import _thread
import asyncio
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livecam_widget import LiveFrame
from livecam_widget._encoder import Look, Settings
from livecam_widget._origin import OriginPolicy
from livecam_widget._protocol import PATH_PREFIX, ProtocolError, parse_client_message
from livecam_widget._server import FrameServer
from livecam_widget._slot import LatestFrame
from livecam_widget._stream import Stream
from livecam_widget._viewer import Limits
from livecam_widget.client import FrameClient, fetch
from tests.conftest import livecam_threads, open_fds, wait_for

pytestmark = pytest.mark.usefixtures("no_leaks")
FRAME = np.full((120, 160, 3), 77, np.uint8)


@contextmanager
def bare_server(limits: Limits, max_fps: float = 0) -> Iterator[tuple[FrameServer, Stream, str]]:
    """A server with tight limits and one stream, without a widget around it."""
    server = FrameServer(limits=limits)
    server.start()
    stream = Stream(LatestFrame(), Look(settings=Settings(), max_fps=max_fps), OriginPolicy(env=""))
    server.add(stream)
    try:
        yield server, stream, f"ws://127.0.0.1:{server.port}{PATH_PREFIX}{stream.id}?token={stream.token}"
    finally:
        server.stop()


def loop_tasks(server: FrameServer) -> int:
    return server.door.call(lambda: len(asyncio.all_tasks()))


# -- security ---------------------------------------------------------------------------------------------


def test_tokens_never_reach_logs_or_error_texts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with LiveFrame() as lf:
        token = lf.url.split("token=")[1]
        lf.update(FRAME)
        fetch(lf.url, 1)
        wrong = token[:-1] + ("B" if token.endswith("A") else "A")  # one character off, never the same
        with pytest.raises(InvalidStatus) as info:
            fetch(lf.url.replace(token, wrong), 1)
        body = info.value.response.body or b""
        assert token.encode() not in body and token not in str(info.value)
        assert "token" in lf.url and token not in repr(lf)
    assert any("livecam_widget.server" in r.name for r in caplog.records)  # the server did log
    assert token not in caplog.text
    assert token[:-1] not in caplog.text


def test_binding_beyond_loopback_warns(caplog: pytest.LogCaptureFixture) -> None:
    with LiveFrame(host="0.0.0.0") as lf:
        lf.update(FRAME)
        assert fetch(lf.url, 1)[0].seq == 1  # lf.url names a reachable host
    assert "0.0.0.0" in caplog.text and "reachable from other machines" in caplog.text


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/etc/passwd",
        "/livecam/v1/../../etc/passwd",
        "/livecam/v1/",
        "/static/widget.js",
        "/livecam/v1/%2e%2e",
    ],
)
def test_plain_http_gets_nothing_but_refusals(path: str) -> None:
    with LiveFrame() as lf:
        conn = http.client.HTTPConnection("127.0.0.1", lf.port, timeout=5)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        conn.close()
    assert response.status in (403, 404)
    assert len(body) < 100 and b"root:" not in body


def test_a_correct_token_without_websocket_upgrade_is_still_refused() -> None:
    with LiveFrame() as lf:
        path = lf.url.split(str(lf.port), 1)[1]
        conn = http.client.HTTPConnection("127.0.0.1", lf.port, timeout=5)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        conn.close()
    assert response.status == 426  # Upgrade Required: no content is ever served over plain HTTP


def test_connections_per_widget_are_capped_and_others_unaffected() -> None:
    async def scenario(url: str, stream: Stream) -> None:
        async with FrameClient(url) as a, FrameClient(url) as b:
            with pytest.raises(InvalidStatus) as info:
                async with FrameClient(url):
                    pass
            assert info.value.response.status_code == 503
            stream.slot.put(FRAME.copy())
            assert (await a.next()).seq == 1 and (await b.next()).seq == 1

    with bare_server(Limits(max_clients=2)) as (_, stream, url):
        asyncio.run(scenario(url, stream))


def test_message_rate_flood_closes_the_offender_only() -> None:
    async def scenario(url: str, stream: Stream) -> None:
        async with FrameClient(url) as polite, FrameClient(url) as flooder:
            stream.slot.put(FRAME.copy())
            await polite.next()
            with pytest.raises(ConnectionClosed) as info:
                for i in range(200):  # a frame per request, as fast as possible: ~thousands/s
                    stream.slot.put(FRAME.copy())
                    await flooder.next(timeout=5)
                    assert i < 150, "the flood was never stopped"
            assert info.value.rcvd is not None and info.value.rcvd.code == 1008
            assert "messages/s" in info.value.rcvd.reason
            stream.slot.put(FRAME.copy())
            assert (await polite.next()).seq > 1

    with bare_server(Limits(max_messages_per_s=20)) as (_, stream, url):
        asyncio.run(scenario(url, stream))


# -- protocol fuzzing ---------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(max_size=300), st.binary(max_size=300), st.from_regex(r'\{"type": ?"next".{0,40}\}'))
)
def test_parser_only_ever_accepts_or_raises_protocol_error(message: str | bytes) -> None:
    try:
        parse_client_message(message)
    except ProtocolError as exc:
        assert exc.code in (1003, 1008, 1009)


def test_random_garbage_on_real_sockets_never_hurts_the_server() -> None:
    rng = np.random.default_rng(5)

    async def scenario(url: str, stream: Stream, server: FrameServer) -> None:
        async with FrameClient(url) as good:
            for i in range(30):
                async with connect(url) as bad:
                    if i % 2:
                        await bad.send(rng.bytes(int(rng.integers(1, 3000))))
                    else:
                        await bad.send("".join(chr(int(c)) for c in rng.integers(32, 0x2FFF, 50)))
                    with pytest.raises(ConnectionClosed):
                        while True:
                            await asyncio.wait_for(bad.recv(), 5)
            stream.slot.put(FRAME.copy())
            assert (await good.next()).seq == 1
        wait_for(lambda: not stream.viewers, timeout=5)

    with bare_server(Limits()) as (server, stream, url):
        asyncio.run(scenario(url, stream, server))


# -- faults and resources ---------------------------------------------------------------------------------


def test_abrupt_disconnects_and_half_open_sockets_leave_no_tasks() -> None:
    async def scenario(url: str, stream: Stream, server: FrameServer, port: int) -> None:
        baseline = loop_tasks(server)
        for _ in range(20):  # a tab killed mid-stream: TCP torn down without a close frame
            client = FrameClient(url)
            await client.__aenter__()
            stream.slot.put(np.full((480, 640, 3), 1, np.uint8))
            await client.request(3)
            client.ws.transport.abort()
        half_open = []
        for _ in range(5):  # connected, then silent: no handshake at all
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /livecam/v1/x HTTP/1.1\r\n")
            half_open.append(s)
        async with FrameClient(url) as good:
            stream.slot.put(FRAME.copy())
            assert (await good.next()).seq >= 1
        wait_for(lambda: not stream.viewers, timeout=5)
        for s in half_open:
            s.close()
        await asyncio.sleep(0.2)
        wait_for(lambda: loop_tasks(server) <= baseline, timeout=10)

    with bare_server(Limits()) as (server, stream, url):
        asyncio.run(scenario(url, stream, server, server.port))


def test_stalled_client_buffers_are_bounded() -> None:
    """A client that grants frames and never reads holds at most its grants; the producer never waits."""
    big = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)  # ~300 KB as JPEG

    async def scenario(url: str, stream: Stream) -> None:
        async with FrameClient(url) as stalled:
            stalled.ws.transport.pause_reading()
            await stalled.request(4)
            worst = 0.0
            for _ in range(100):
                started = time.perf_counter()
                stream.slot.put(big.copy())
                worst = max(worst, time.perf_counter() - started)
                await asyncio.sleep(0.01)
            (client,) = stream.viewers
            buffered = client.ws.transport.get_write_buffer_size()
            assert client.core.outstanding <= 4
            assert buffered <= Limits().write_limit + 4 * 400_000, buffered
            assert worst < 0.5
            stalled.ws.transport.resume_reading()  # let the close handshake through

    with bare_server(Limits()) as (_, stream, url):
        asyncio.run(scenario(url, stream))


def test_close_is_idempotent_and_safe_from_many_threads_at_once() -> None:
    lf = LiveFrame("testpattern")
    fetch(lf.url, 1)
    errors: list[BaseException] = []

    def close() -> None:
        try:
            lf.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=close) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and lf.closed


def test_a_blocking_callable_does_not_hang_close() -> None:
    release = threading.Event()
    closed = threading.Event()

    class Blocking:
        def __call__(self) -> np.ndarray:
            release.wait(30)
            return FRAME

        def close(self) -> None:
            closed.set()

    lf = LiveFrame(Blocking())
    time.sleep(0.1)
    started = time.monotonic()
    lf.close()
    assert time.monotonic() - started < 4
    release.set()  # the call returns; the thread ends by itself
    wait_for(lambda: not livecam_threads(), timeout=5)


def test_a_url_that_never_answers_fails_within_the_open_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises((RuntimeError, TimeoutError)) as info:
            LiveFrame(f"http://user:secret@127.0.0.1:{port}/stream.mjpg", open_timeout=2)
        assert time.monotonic() - started < 8
        assert "secret" not in str(info.value)
    finally:
        listener.close()
    wait_for(lambda: not livecam_threads(), timeout=10)


def test_keyboard_interrupt_in_the_main_thread_does_not_stop_the_stream() -> None:
    # A run started in the background by a shell without job control inherits SIGINT ignored, and then
    # interrupt_main() does nothing: give the main thread Python's own handler, as an interactive kernel has.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupted_loop_then_stream()
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted_loop_then_stream() -> None:
    with LiveFrame() as lf:
        timer = threading.Timer(0.2, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            for i in range(1000):  # a cell's foreground loop, interrupted by the user
                lf.update(np.full((40, 40), i % 256, np.uint8))
                time.sleep(0.01)
        timer.join()
        lf.update(FRAME)
        assert fetch(lf.url, 1)[0].decode().shape == (120, 160, 3)


def test_an_unclosed_widget_does_not_keep_the_interpreter_alive() -> None:
    code = (
        "from livecam_widget import LiveFrame\n"
        "from livecam_widget.client import fetch\n"
        "lf = LiveFrame('testpattern')\n"
        "fetch(lf.url, 2)\n"
        "print('done', flush=True)\n"
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout
    assert time.monotonic() - started < 30


def listening_ports() -> set[int]:
    """Ports this process listens on (other processes on the machine do not count)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # LISTEN, and ours
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_200_create_close_cycles_return_to_baseline(video_file: Path) -> None:
    threads_before, fds_before, ports_before = livecam_threads(), open_fds(), listening_ports()
    with LiveFrame() as probe:  # the check can see our own listeners
        assert probe.port in listening_ports()

    async def pull(url: str) -> None:
        async with FrameClient(url) as client:
            await client.next()

    for i in range(200):
        source = str(video_file) if i % 2 else "testpattern:160x120"
        lf = LiveFrame(source, loop=True)
        asyncio.run(pull(lf.url))
        lf.close()
    wait_for(lambda: livecam_threads() == threads_before, timeout=10)
    wait_for(lambda: open_fds() <= fds_before, timeout=10)
    assert listening_ports() <= ports_before
    assert len(os.listdir("/proc/self/task")) < 40


# -- sources that misbehave end in a clear error or state ---------------------------------------------------


def test_a_generator_that_raises_or_yields_junk_ends_in_a_clear_error() -> None:
    def junk():
        yield FRAME
        yield "not a frame"
        yield np.zeros((4, 4), np.int64)
        raise OSError("camera unplugged")

    with LiveFrame(junk(), fps=200, keep_running=True) as lf:
        wait_for(lambda: lf.state == "ended", timeout=5)
        assert "OSError: camera unplugged" in str(lf.error)
        assert lf.snapshot() is not None  # the last good frame stays
    with LiveFrame(iter(["junk"]), fps=200, keep_running=True) as lf:
        wait_for(lambda: lf.state == "ended", timeout=5)
        wait_for(lambda: lf.error, timeout=5)
        assert "invalid frame" in str(lf.error) and "str" in str(lf.error)
