import socket
import time
from pathlib import Path

import numpy as np
import pytest

from livecam_widget import read_code
from livecam_widget._sources import (
    CallableSource,
    CaptureSource,
    EndOfSource,
    IterableSource,
    ReaderSource,
    SourceThread,
    TestPatternSource,
    device_key,
    make_source,
    redact,
    why_unreachable,
)
from tests.conftest import wait_for


def test_video_file_plays_through_videocapture_in_order(video_file: Path) -> None:
    source = CaptureSource(str(video_file))
    assert source.fps == pytest.approx(30.0)
    seen = []
    with pytest.raises(EndOfSource):
        while True:
            frame = source.read()
            assert frame is not None
            seen.append(read_code(frame, bits=12, block=16))
    source.close()
    assert seen == list(range(30))


def test_video_file_loops(video_file: Path) -> None:
    source = CaptureSource(str(video_file), loop=True)
    codes = [read_code(source.read(), bits=12, block=16) for _ in range(65)]
    source.close()
    assert codes[:30] == list(range(30)) and codes[30:60] == list(range(30))


def test_missing_file_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.mp4"):
        CaptureSource(str(tmp_path / "nope.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(RuntimeError, match="could not open video file"):
        CaptureSource(str(bad))


def test_missing_camera_errors_clearly_and_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="could not open camera 7"):
        CaptureSource(7, open_timeout=3)
    assert time.monotonic() - started < 6


def test_make_source_kinds(video_file: Path) -> None:
    assert make_source(None, loop=False, fps=None, open_timeout=1) is None
    assert make_source(np.zeros((2, 2)), loop=False, fps=None, open_timeout=1) is None
    assert isinstance(
        make_source("testpattern:320x200", loop=False, fps=None, open_timeout=1), TestPatternSource
    )
    assert isinstance(make_source(video_file, loop=False, fps=None, open_timeout=1), CaptureSource)
    assert isinstance(make_source(iter([]), loop=False, fps=None, open_timeout=1), IterableSource)
    assert isinstance(make_source([np.zeros((2, 2))], loop=False, fps=None, open_timeout=1), IterableSource)
    assert isinstance(make_source(lambda: None, loop=False, fps=None, open_timeout=1), CallableSource)

    class Reader:
        def read(self) -> tuple[bool, np.ndarray]:
            return True, np.zeros((2, 2), np.uint8)

    assert isinstance(make_source(Reader(), loop=False, fps=None, open_timeout=1), ReaderSource)
    for bad in (True, 3.5, {"a": 1}):
        with pytest.raises(TypeError, match="camera index"):
            make_source(bad, loop=False, fps=None, open_timeout=1)


def test_device_keys_and_redaction() -> None:
    assert device_key(0) == device_key("0") == "camera:0"
    assert device_key("clip.mp4") is None and device_key(True) is None
    assert redact("rtsp://admin:hunter2@cam.local/stream") == "rtsp://admin:***@cam.local/stream"


def test_test_pattern_carries_its_seq() -> None:
    source = TestPatternSource(320, 240)
    first, second = source.read(), source.read()
    assert first is not None and second is not None
    assert read_code(second, 24, block=10) == 2


def test_source_thread_reports_errors_and_keeps_going() -> None:
    frames: list[np.ndarray] = []
    errors: list[str] = []
    ended: list[bool] = []
    calls = iter(range(10**6))

    def flaky() -> np.ndarray | None:
        n = next(calls)
        if n == 1:
            raise ZeroDivisionError("boom")
        if n == 2:
            return None
        if n == 3:
            return "not a frame"  # type: ignore[return-value]
        return np.zeros((2, 2), np.uint8)

    def sink(frame: object) -> None:
        if not isinstance(frame, np.ndarray):
            raise TypeError("frame must be an array")
        frames.append(frame)

    thread = SourceThread(
        CallableSource(flaky, fps=200), sink, errors.append, lambda: ended.append(True), lambda: 200
    )
    thread.start()
    wait_for(lambda: len(frames) >= 3)
    assert thread.stop()
    assert any("ZeroDivisionError: boom" in e for e in errors)
    assert any("invalid frame" in e for e in errors)
    assert not ended


def test_source_thread_ends_with_a_generator_and_stop_is_idempotent() -> None:
    ended: list[bool] = []

    def gen():
        yield np.zeros((2, 2), np.uint8)
        raise ValueError("generator broke")

    errors: list[str] = []
    thread = SourceThread(
        IterableSource(gen(), fps=None),
        lambda f: None,
        errors.append,
        lambda: ended.append(True),
        lambda: None,
    )
    thread.start()
    wait_for(lambda: ended)
    assert "generator broke" in errors[0]
    assert thread.stop() and thread.stop()
    thread.start()  # restartable after stop
    assert thread.stop()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("testpattern:99999x99999", "too large"),
        ("testpattern:abc", "unknown test pattern"),
        ("testpattern:10x10", "at least 64x48"),
        ("TestPattern:640", "testpattern:WxH"),
    ],
)
def test_bad_test_pattern_specs_say_what_is_accepted(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_source(spec, loop=False, fps=None, open_timeout=1)


def test_a_refused_url_says_connection_refused_at_once() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: connections are refused
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="connection refused"):
            CaptureSource(f"rtsp://127.0.0.1:{port}/live", open_timeout=2)
        assert time.monotonic() - started < 2


def test_why_unreachable_names_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert "accepts connections" in why_unreachable(f"rtsp://127.0.0.1:{port}/x", 1.0)

    def no_dns(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert why_unreachable("rtsp://camera.example/x", 1.0).startswith("host not found")
    assert "port is not a number" in why_unreachable("rtsp://127.0.0.1:abc/x", 1.0)
