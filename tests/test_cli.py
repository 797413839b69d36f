"""``livecam serve``: every bad option or source ends with one line on stderr and a non-zero exit.

Each case runs the command as a user would, in a subprocess, and reads what it printed."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def serve(*args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livecam_widget", "serve", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The command failed, and said why in exactly one line, with no traceback."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "serving" not in proc.stdout  # it never got as far as serving
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["testpattern", "--quality", "500"], ["--quality", "1..100", "auto", "500"]),
        (["testpattern", "--quality", "0"], ["--quality", "1..100"]),
        (["testpattern", "--quality", "high"], ["--quality", "1..100", "high"]),
        (["testpattern", "--max-fps", "-1"], ["--max-fps", "0 (no cap)", "-1"]),
        (["testpattern", "--max-fps", "inf"], ["--max-fps", "finite"]),
        (["testpattern", "--fps", "0"], ["--fps", "above 0"]),
        (["testpattern", "--fps", "-5"], ["--fps", "above 0", "-5"]),
        (["testpattern", "--fps", "nan"], ["--fps", "finite"]),
        (["testpattern", "--fps", "fast"], ["--fps", "number", "fast"]),
        (["testpattern", "--max-size", "5"], ["--max-size", "at least 16"]),
        (["testpattern", "--max-size", "-1"], ["--max-size", "at least 16"]),
        (["testpattern", "--format", "gif"], ["--format", "gif", "jpeg", "png"]),
        (["testpattern", "--port", "99999"], ["--port", "1..65535"]),
        (["testpattern", "--port", "http"], ["--port", "1..65535"]),
        (["testpattern", "--no-such-option"], ["unrecognized", "--no-such-option"]),
        ([], ["required", "source"]),
    ],
)
def test_a_bad_option_is_one_line_naming_the_option_and_what_it_accepts(
    args: list[str], says: list[str]
) -> None:
    proc = serve(*args)
    line = one_error_line(proc)
    assert proc.returncode == 2
    for words in says:
        assert words in line, line


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("testpattern:10x10", ["at least 64x48", "10x10"]),
        ("testpattern:0x0", ["at least 64x48"]),
        ("testpattern:100000x100000", ["too large", "16384"]),
        ("testpattern:big", ["unknown test pattern", "testpattern:WxH"]),
    ],
)
def test_a_bad_test_pattern_is_one_line(source: str, says: list[str]) -> None:
    proc = serve(source)
    line = one_error_line(proc)
    assert proc.returncode == 1
    for words in says:
        assert words in line, line


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    line = one_error_line(serve(str(missing)))
    assert "video file not found" in line and "missing.mp4" in line


def test_a_file_that_is_no_video_is_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    line = one_error_line(serve(str(text)))
    assert "could not open video file" in line and "notes.mp4" in line


def test_a_stream_nobody_serves_is_one_line_without_ffmpeg_chatter() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = one_error_line(serve(f"rtsp://127.0.0.1:{port}/cam", "--port", "0"))
    assert "could not open stream" in line


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_port_in_use_is_one_line(busy_port: int) -> None:
    proc = serve("testpattern", "--port", str(busy_port))
    line = one_error_line(proc)
    assert proc.returncode == 1
    assert f"port {busy_port}" in line and "in use" in line and "--port" in line


def test_an_address_not_of_this_machine_is_one_line() -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never this machine's. No "reachable from other machines"
    # warning first: a failed start prints the error alone.
    line = one_error_line(serve("testpattern", "--host", "192.0.2.1"))
    assert "could not listen on 192.0.2.1" in line


def test_a_camera_that_does_not_answer_is_one_line() -> None:
    line = one_error_line(serve("99"))
    assert "could not open camera 99" in line
