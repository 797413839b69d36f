"""Recording: codec choice, frame conversion, the writer fed from the slot, and a real recording read back."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam_widget import LiveFrame, draw_code, read_code
from livecam_widget._recorder import Recorder, as_bgr, fourcc_for
from livecam_widget._slot import Frame, LatestFrame
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("no_leaks")


def coded(value: int, size: tuple[int, int] = (160, 96)) -> np.ndarray:
    img = np.full((size[1], size[0], 3), 60, np.uint8)
    draw_code(img, value, bits=8, block=16)
    return img


def read_back(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_the_codec_follows_the_file_name_unless_given() -> None:
    assert fourcc_for("out.mp4", None) == "mp4v"
    assert fourcc_for("OUT.AVI", None) == "MJPG"
    assert fourcc_for("out.bin", "MJPG") == "MJPG"
    with pytest.raises(ValueError, match="cannot tell the video format"):
        fourcc_for("out.xyz", None)
    with pytest.raises(ValueError, match="4 characters"):
        fourcc_for("out.mp4", "h264x")


def test_frames_become_bgr_of_the_files_size() -> None:
    assert as_bgr(np.zeros((10, 20), np.uint8), (20, 10)).shape == (10, 20, 3)
    assert as_bgr(np.zeros((10, 20, 4), np.uint8), (20, 10)).shape == (10, 20, 3)
    assert as_bgr(np.zeros((30, 40, 3), np.uint8), (20, 10)).shape == (10, 20, 3)


def test_writes_the_newest_rendered_frame_once_per_call(tmp_path: Path) -> None:
    slot = LatestFrame()
    rendered: list[int] = []

    def render(frame: Frame) -> np.ndarray:
        rendered.append(frame.seq)
        if frame.seq == 3:
            raise ValueError("process failed")
        return 255 - frame.data  # what is shown is the processed frame

    recorder = Recorder(str(tmp_path / "out.avi"), slot, render, fps=10)
    assert recorder.write_newest() is False, "nothing to write before the first frame"
    slot.put(coded(1))
    assert recorder.write_newest()
    assert recorder.write_newest(), "no new frame: the last one again, the file keeps the wall clock's pace"
    slot.put(coded(2))
    slot.put(coded(3))
    assert recorder.write_newest() is False, "a failing process is skipped"
    slot.put(coded(4))
    assert recorder.write_newest()
    recorder.release()
    assert recorder.frames == 3 and rendered == [1, 1, 3, 4]
    frames = read_back(tmp_path / "out.avi")
    assert len(frames) == 3
    assert [read_code(255 - f, 8, block=16) for f in frames] == [1, 1, 4]


def test_an_unwritable_path_is_reported_and_ends_the_recorder(tmp_path: Path) -> None:
    errors: list[str] = []
    slot = LatestFrame()
    slot.put(coded(1))
    recorder = Recorder(
        str(tmp_path / "missing" / "out.avi"), slot, lambda f: f.data, 10, on_error=errors.append
    )
    assert recorder.write_newest() is False
    assert errors and "cannot record" in errors[0]


@pytest.mark.realtime
def test_record_a_generated_source_and_read_it_back(tmp_path: Path) -> None:
    count = iter(range(1, 10_000))

    def source() -> np.ndarray:
        return coded(next(count) % 256)

    path = tmp_path / "out.mp4"
    with LiveFrame(source, fps=30, process=lambda f: 255 - f) as lf:
        lf.record(str(path))  # a recording wants frames: the source starts
        wait_for(lambda: lf._session.slot.count > 0)
        assert lf.recording == str(path)
        with pytest.raises(RuntimeError, match="already recording"):
            lf.record(str(tmp_path / "other.mp4"))
        time.sleep(1.5)
        assert lf.stop_recording() == str(path)
        assert lf.recording is None
    frames = read_back(path)
    assert 25 <= len(frames) <= 60, f"{len(frames)} frames for 1.5 s at 30 fps"
    codes = [read_code(255 - f, 8, block=16) for f in frames]  # processed: inverted on the way in
    assert codes == sorted(codes) and codes[-1] - codes[0] >= 20, codes


def test_record_refuses_a_missing_folder_and_stop_without_recording_is_none(tmp_path: Path) -> None:
    with LiveFrame() as lf:
        with pytest.raises(FileNotFoundError, match="no folder"):
            lf.record(str(tmp_path / "missing" / "out.mp4"))
        with pytest.raises(ValueError, match="video format"):
            lf.record(str(tmp_path / "out.txt"))
        assert lf.recording is None and lf.stop_recording() is None
