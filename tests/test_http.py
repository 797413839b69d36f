"""HTTP viewers (MJPEG, snapshot, page) and the standalone command, with real HTTP clients."""

from __future__ import annotations

import gc
import http.client
import logging
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

from livecam_widget import LiveFrame, draw_code, read_code
from livecam_widget._access import is_own_page
from tests.conftest import livecam_threads, wait_for
from tests.test_stream import Producer

pytestmark = pytest.mark.usefixtures("no_leaks")


def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request(method, f"{parts.path}?{parts.query}")
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def mjpeg_parts(
    url: str, count: int, pause: float = 0.0, rcvbuf: int = 0
) -> Iterator[tuple[dict[str, str], bytes]]:
    """Parse ``count`` parts of a multipart/x-mixed-replace response, as a plain HTTP client would.

    ``rcvbuf`` fixes the client's receive buffer (which also turns off Linux's autotuning of it)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    if rcvbuf:
        conn.sock = socket.socket()
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        conn.sock.settimeout(10)
        conn.sock.connect((parts.hostname, parts.port))
    conn.request("GET", f"{parts.path}?{parts.query}")
    response = conn.getresponse()
    assert response.status == 200
    boundary = response.getheader("Content-Type").split("boundary=")[1]
    try:
        for _ in range(count):
            raw = response.fp.readline()
            while raw in (b"\r\n", b"\n"):  # blank lines between parts (the server's window probes)
                raw = response.fp.readline()
            line = raw.strip()  # b"" at the end of the stream
            assert line == f"--{boundary}".encode(), line
            headers = {}
            while (line := response.fp.readline().strip()) != b"":
                key, _, value = line.decode().partition(":")
                headers[key.strip().lower()] = value.strip()
            body = response.fp.read(int(headers["content-length"]))
            assert response.fp.read(2) == b"\r\n"
            yield headers, body
            if pause:
                time.sleep(pause)
    finally:
        conn.close()


def coded(value: int) -> np.ndarray:
    img = np.full((240, 320, 3), 50, np.uint8)
    draw_code(img, value, bits=16, block=16)
    return img


def test_snapshot_needs_the_token_and_returns_the_processed_frame() -> None:
    with LiveFrame() as lf:
        url = lf.snapshot_url
        assert get(url)[0] == 503  # no frame yet
        lf.update(coded(9))
        lf.process = lambda img: 255 - img
        status, headers, body = get(url)
        assert status == 200 and headers["Content-Type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert read_code(image, 16, block=16) == (~9) & 0xFFFF
        assert get(url.replace("token=", "token=x"))[0] == 403
        assert get(url.split("?")[0])[0] == 403
        assert get(url.replace("snapshot.jpg", "../../etc/passwd"))[0] == 404
        lf.process = lambda img: img[:, :, 5]
        status, _, body = get(url)
        assert status == 500 and b"IndexError" in body


def test_mjpeg_decodes_in_order_and_respects_max_fps() -> None:
    with LiveFrame(max_fps=10) as lf, Producer(lf, fps=60):
        started = time.monotonic()
        parts = list(mjpeg_parts(lf.mjpeg_url, 12))
        elapsed = time.monotonic() - started
        seqs = [int(h["x-livecam-seq"]) for h, _ in parts]
        assert seqs == sorted(seqs) and len(set(seqs)) == 12
        for headers, body in parts:
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            assert image.shape == (240, 320, 3) and headers["content-type"] == "image/jpeg"
        assert 11 / elapsed <= 10.5, f"{11 / elapsed:.1f} fps over the cap"


@pytest.mark.realtime
def test_a_slow_mjpeg_viewer_gets_fresh_frames_not_a_backlog() -> None:
    """The server holds no backlog for a slow reader: it sends a part only once the previous one is
    acknowledged, then takes the newest frame. The reader's receive buffer is fixed at 256 KB (the kernel
    doubles it) so it holds at most ~2 of these ~200 KB parts: the only queue left is the reader's own."""
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    with LiveFrame(max_fps=0) as lf:
        stop = False

        def produce() -> None:
            while not stop:
                lf.update(noise)
                time.sleep(1 / 60)

        producer = threading.Thread(target=produce)
        producer.start()
        try:
            ages, seqs = [], []
            for headers, body in mjpeg_parts(lf.mjpeg_url, 20, pause=0.2, rcvbuf=256 * 1024):
                ages.append((time.time() - float(headers["x-livecam-capture-time"])) * 1000)
                seqs.append(int(headers["x-livecam-seq"]))
                assert len(body) > 100_000
        finally:
            stop = True
            producer.join()
    print("slow MJPEG reader ages (ms):", [round(a) for a in ages])
    # ~3 parts of 200 ms each at most; a server-side backlog would keep adding ~200 ms per part.
    assert max(ages) < 1200, ages
    assert statistics.mean(ages[-5:]) < statistics.mean(ages[5:10]) + 150, ages
    assert statistics.median(np.diff(seqs[5:])) >= 5  # frames in between were skipped, not queued


def test_a_viewer_can_ask_for_its_own_lower_pace() -> None:
    with LiveFrame(max_fps=0) as lf, Producer(lf, fps=60):
        started = time.monotonic()
        assert len(list(mjpeg_parts(lf.mjpeg_url + "&fps=5", 6))) == 6
        assert 5 / (time.monotonic() - started) <= 5.5
        assert get(lf.mjpeg_url + "&fps=abc")[0] == 400


def test_the_page_and_its_module_are_served_with_the_token() -> None:
    with LiveFrame() as lf:
        status, headers, body = get(lf.page_url)
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert f":{lf.port}/livecam/v1/".encode() in body
        js_url = lf.page_url.replace("/?token=", "/widget.js?token=")
        status, headers, body = get(js_url)
        assert status == 200 and b"export default" in body and b"PullLoop" in body
        assert get(lf.page_url, "HEAD")[0] == 200
        assert get(lf.page_url.split("?")[0])[0] == 403


def test_own_page_rule_needs_same_host_and_the_http_port() -> None:
    with LiveFrame() as lf:
        server = lf._session.server
        assert server is not None
        http_port = server.http().port
        host = f"box.lan:{lf.port}"
        assert is_own_page(f"http://box.lan:{http_port}", host, http_port)
        assert not is_own_page(f"http://evil.example:{http_port}", host, http_port)
        assert not is_own_page("http://box.lan:1", host, http_port)
        assert not is_own_page(f"http://box.lan:{http_port}", host, None)  # no HTTP listener: no own page


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "livecam_widget", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_serves_page_mjpeg_and_snapshot_and_stops_on_ctrl_c() -> None:
    proc = run_cli("serve", "testpattern:320x240", "--fps", "30", "--max-fps", "15")
    try:
        urls = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            words = line.split()
            if len(words) == 2 and words[0] in ("page", "mjpeg", "snapshot", "websocket"):
                urls[words[0]] = words[1]
            if line.startswith("Ctrl-C"):
                break
        assert set(urls) == {"page", "mjpeg", "snapshot", "websocket"}
        wait_for(lambda: get(urls["snapshot"])[0] == 200)  # the source's first frame
        status, _, body = get(urls["snapshot"])
        assert status == 200 and cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (
            240,
            320,
            3,
        )
        assert len(list(mjpeg_parts(urls["mjpeg"], 3))) == 3
        assert get(urls["page"])[0] == 200
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_cli_reports_a_bad_source_clearly() -> None:
    proc = run_cli("serve", "/nonexistent/clip.mp4")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "video file not found" in err and "/nonexistent/clip.mp4" in err


def test_closing_the_widget_ends_mjpeg_viewers() -> None:
    lf = LiveFrame("testpattern:160x120")
    parts = mjpeg_parts(lf.mjpeg_url, 1000)
    next(parts)
    lf.close()
    with pytest.raises((AssertionError, OSError, ValueError, http.client.HTTPException)):
        for _ in parts:
            pass
    wait_for(lambda: lf.closed)


def test_closing_with_mjpeg_viewers_attached_prints_nothing(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """MJPEG readers in the middle of a stream when the widget closes: they end, and nothing is printed
    (no "Event loop is closed" traceback, no "Task was destroyed but it is pending")."""

    def read(url: str, counts: list[int], i: int) -> None:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            conn.request("GET", f"{parts.path}?{parts.query}")
            response = conn.getresponse()
            while response.read(4096):
                counts[i] += 1
        except (OSError, http.client.HTTPException):
            pass  # the stream ended under the reader: that is the point
        finally:
            conn.close()

    for _ in range(5):  # the race needs a few tries to show
        lf = LiveFrame("testpattern:320x240", fps=60, max_fps=0)
        counts = [0] * 6
        readers = [threading.Thread(target=read, args=(lf.mjpeg_url, counts, i)) for i in range(6)]
        for reader in readers:
            reader.start()
        wait_for(lambda counts=counts: min(counts) >= 3)
        lf.close()
        for reader in readers:
            reader.join(10)
        assert not any(reader.is_alive() for reader in readers)
    wait_for(lambda: not livecam_threads())
    gc.collect()  # a task destroyed pending says so when it is collected
    out, err = capfd.readouterr()
    assert err == "", err
    assert "Traceback" not in out and "Error" not in out, out
    logged = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert not logged, logged  # asyncio and concurrent.futures report through logging


def test_a_still_stream_repeats_its_last_part_for_mjpeg_readers() -> None:
    """One pushed frame, nothing after: a reader still gets a part at least once a second, so readers that
    finish a part only when the next begins (FFmpeg's, inside cv2.VideoCapture) show it."""
    with LiveFrame(coded(7)) as lf:
        started = time.monotonic()
        parts = list(mjpeg_parts(lf.mjpeg_url, 4))
        elapsed = time.monotonic() - started
        assert {int(h["x-livecam-seq"]) for h, _ in parts} == {1}
        assert elapsed < 3.5, f"4 parts of a still stream took {elapsed:.1f} s"
        capture = cv2.VideoCapture(lf.mjpeg_url, cv2.CAP_FFMPEG)
        try:
            ok, image = capture.read()
            assert ok and read_code(image, 16, block=16) == 7
        finally:
            capture.release()


@pytest.mark.realtime
class NoiseProducer(Producer):
    """Camera-like noise at 640x480 (parts of about 200 KB, larger than a loopback segment of 64 KiB, so
    the reader's window can show each read; see _backlog on smaller parts)."""

    def _run(self) -> None:
        noise = np.random.default_rng(1).integers(0, 256, (496, 656, 3), dtype=np.uint8)
        i, next_at = 0, time.monotonic()
        while not self.stop.is_set():
            i += 1
            self.lf.update(noise[i % 16 :][:480, i % 16 :][:, :640])
            next_at += 1 / self.fps
            self.stop.wait(max(0.0, next_at - time.monotonic()))


def test_a_reader_at_two_parts_a_second_sees_frames_under_a_second_old() -> None:
    """Default receive buffers (Linux grows them to megabytes): acknowledged parts would pile up there and
    age by seconds; paced to what the reader reads (its TCP window), it holds about one part."""
    with LiveFrame(max_fps=0) as lf, NoiseProducer(lf, fps=60):
        ages = []
        for headers, _ in mjpeg_parts(lf.mjpeg_url, 16, pause=0.5):
            ages.append((time.time() - float(headers["x-livecam-capture-time"])) * 1000)
    print("MJPEG reader at 2 parts/s, ages (ms):", [round(a) for a in ages])
    # Measured here: 250-1000 ms from the seventh part on, flat (up to 1.43 s for a part or two before,
    # while the reader's window still grew); before this pacing the ages grew by about 450 ms a part (3.2 s
    # by the eighth). A reader at 2 parts/s holding one part sees ages alternating about
    # 450 and 950 ms; one part more in its buffer adds 500 ms to each. While the pacing is in doubt (the
    # window growing), parts may instead wait for the reader, and it sees them fresh: no lower bound.
    assert max(ages[6:]) < 1500, ages
    assert statistics.mean(ages[-4:]) < 1200, ages


def test_a_cv2_videocapture_reader_reads_through_the_probes() -> None:
    with LiveFrame(max_fps=0) as lf, Producer(lf, fps=30):
        capture = cv2.VideoCapture(lf.mjpeg_url, cv2.CAP_FFMPEG)
        try:
            codes = []
            for _ in range(6):
                ok, image = capture.read()
                assert ok
                codes.append(read_code(image, 16, block=16))
                time.sleep(0.3)
            assert codes == sorted(codes) and len(set(codes)) == 6, codes
        finally:
            capture.release()
