"""An hour of iterating: sources read only while wanted, cells re-run, nothing left running unseen."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import comm
import numpy as np
import pytest
import traitlets

from livecam_widget import LiveFrame, _registry, draw_code, read_code
from livecam_widget.client import FrameClient, fetch
from tests.conftest import livecam_threads, make_video, wait_for

pytestmark = pytest.mark.usefixtures("no_leaks")
GRACE = 2.0  # what LiveFrame waits, with nothing watching, before its source idles


def coded(value: int) -> np.ndarray:
    img = np.full((120, 160, 3), 70, np.uint8)
    draw_code(img, value, bits=16, block=8)
    return img


def cpu_share(seconds: float) -> float:
    """This process's CPU time over ``seconds`` of wall time, as a share of one core."""
    started_cpu, started = time.process_time(), time.monotonic()
    time.sleep(seconds)
    return (time.process_time() - started_cpu) / (time.monotonic() - started)


@pytest.mark.realtime
def test_a_callable_without_fps_is_called_once_per_wanted_frame() -> None:
    calls = 0

    def grab() -> np.ndarray:
        nonlocal calls
        calls += 1
        return coded(calls)

    with LiveFrame(grab, max_fps=0) as lf:
        time.sleep(0.3)
        assert calls == 0, "called with nobody watching"
        got = fetch(lf.url, 10)
        assert [read_code(f.decode(), 16, block=8) for f in got] == sorted({f.seq for f in got})
        assert calls <= 11, f"{calls} calls for 10 frames"


@pytest.mark.realtime
def test_every_source_kind_honours_fps(tmp_path: Path) -> None:
    class Reader:
        reads = 0

        def read(self) -> tuple[bool, np.ndarray]:
            Reader.reads += 1
            return True, coded(Reader.reads)

    clip = make_video(tmp_path / "clip.avi", frames=300, fps=100)
    sources = (Reader(), str(clip), lambda: coded(1), iter(coded(i) for i in range(10**6)), "testpattern")
    for source in sources:
        with LiveFrame(source, fps=10, max_fps=0, keep_running=True) as lf:
            wait_for(lambda lf=lf: lf._session.slot.count >= 2)
            first = lf._session.slot.count
            time.sleep(1.0)
            rate = lf._session.slot.count - first
            assert 7 <= rate <= 12, f"{type(source).__name__}: {rate} frames in 1 s at fps=10"
    assert Reader.reads < 30, f"the reader was read {Reader.reads} times for about 12 frames"


@pytest.mark.realtime
def test_an_unwatched_source_idles_and_a_file_keeps_its_position(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "long.avi", frames=600, fps=30)
    with LiveFrame(str(clip), max_fps=0) as lf:
        before = read_code(fetch(lf.url, 1)[0].decode(), bits=12, block=16)
        time.sleep(GRACE + 1.5)
        count = lf._session.slot.count
        time.sleep(0.5)
        assert lf._session.slot.count == count, "still reading with nobody watching"
        after = read_code(fetch(lf.url, 1)[0].decode(), bits=12, block=16)
        # Watching again continues where it stopped: not 3.5 s x 30 fps = 105 frames further on.
        assert 0 < after - before < 75, (before, after)


@pytest.mark.realtime
def test_six_unwatched_widgets_cost_almost_nothing(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.avi", frames=60)
    n = iter(range(10**9))
    widgets = [
        LiveFrame("testpattern:1280x720"),
        LiveFrame("testpattern:1280x720"),
        LiveFrame("testpattern:1280x720"),
        LiveFrame(coded(i) for i in range(10**9)),
        LiveFrame(lambda: coded(next(n))),
        LiveFrame(str(clip), loop=True),
    ]
    try:
        for lf in widgets:  # each watched for a moment, then left alone
            fetch(lf.url, 2)
        time.sleep(GRACE + 0.5)
        share = cpu_share(3.0)
        print(f"six unwatched widgets: {100 * share:.1f} % of a core")
        assert share < 0.05
    finally:
        for lf in widgets:
            lf.close()


@pytest.mark.realtime
def test_a_new_viewer_of_an_idle_widget_gets_a_fresh_first_frame() -> None:
    with LiveFrame("testpattern:640x480", fps=30) as lf:
        fetch(lf.url, 2)
        time.sleep(GRACE + 1.0)  # idle now; the slot still holds a frame from over 2 s ago

        async def first_frame() -> tuple[float, float]:
            asked = time.monotonic()
            async with FrameClient(lf.url) as client:
                frame = await client.next(timeout=5)
            return time.monotonic() - asked, frame.age_ms

        waited, age_ms = asyncio.run(first_frame())
        print(f"idle widget: first frame after {1000 * waited:.0f} ms, captured {age_ms:.0f} ms before")
        assert waited < 1.0
        assert age_ms < 250


def test_snapshot_wakes_an_idle_source_for_a_fresh_frame() -> None:
    with LiveFrame("testpattern:320x240", fps=30) as lf:
        asked = time.time()
        image = lf.snapshot()
        assert image is not None and image.shape == (240, 320, 3)
        frame = lf._session.slot.peek()
        assert frame is not None and frame.t_capture >= asked


@pytest.mark.realtime
def test_keep_running_runs_process_with_nobody_watching() -> None:
    seen: list[int] = []

    def count(frame: np.ndarray) -> np.ndarray:
        seen.append(1)
        return frame

    with LiveFrame("testpattern:160x120", fps=30, process=count, keep_running=True) as lf:
        wait_for(lambda: len(seen) >= 10)
        assert lf.keep_running and lf._session.stream.cache.encodes == 0
        lf.keep_running = False
        time.sleep(GRACE + 0.5)
        settled = len(seen)
        time.sleep(0.5)
        assert len(seen) == settled


@pytest.mark.realtime
def test_a_recording_keeps_the_source_running(tmp_path: Path) -> None:
    with LiveFrame("testpattern:160x120", fps=30) as lf:
        lf.record(str(tmp_path / "out.avi"))
        time.sleep(GRACE + 0.5)
        count = lf._session.slot.count
        wait_for(lambda: lf._session.slot.count > count + 5)
        lf.stop_recording()


def test_a_constructor_that_raises_opens_no_comm(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Any] = []
    real = comm.create_comm

    def recording_create_comm(*args: Any, **kwargs: Any) -> Any:
        opened.append(kwargs.get("target_name"))
        return real(*args, **kwargs)

    monkeypatch.setattr(comm, "create_comm", recording_create_comm)
    with pytest.raises(FileNotFoundError):
        LiveFrame("no-such-clip.mp4")
    with pytest.raises(traitlets.TraitError):
        LiveFrame("testpattern", quality=500)
    assert opened == []
    with LiveFrame("testpattern"):
        assert opened and set(opened) == {"jupyter.widget"}  # the widget's comm (and its layout's)
    wait_for(lambda: not livecam_threads())


def test_rerunning_a_cell_replaces_only_that_cell_s_widgets(monkeypatch: pytest.MonkeyPatch) -> None:
    run: list[tuple[str, str] | None] = [("cell-a", "run-1")]
    monkeypatch.setattr(_registry, "current_cell", lambda: run[0])
    a1, a2 = LiveFrame("testpattern"), LiveFrame("testpattern")  # two widgets from one run of cell a
    run[0] = ("cell-b", "run-2")
    b = LiveFrame("testpattern")
    kept = LiveFrame("testpattern", replace_on_rerun=False)
    run[0] = ("cell-a", "run-3")  # cell a again
    a3 = LiveFrame("testpattern")
    assert a1.closed and a2.closed and a1.comm is None  # views went with the cleared output
    assert not b.closed and not kept.closed and not a3.closed
    run[0] = None  # no cell id (a script, a console): nothing is closed
    loose = LiveFrame("testpattern")
    assert not a3.closed
    LiveFrame.close_all()
    assert all(w.closed for w in (b, kept, a3, loose))


def test_close_zeroes_the_rates_in_stats() -> None:
    lf = LiveFrame("testpattern:160x120", fps=30, keep_running=True)
    wait_for(lambda: (lf.stats or {}).get("fps_source", 0) > 0)
    frames = lf.stats["frames"]
    lf.close()
    stats = lf.stats
    assert stats["state"] == "closed" and stats["fps_source"] == 0 and stats["clients"] == 0
    assert stats["latency_ms"] is None and stats["frames"] >= frames  # the counts it ended with stay


@pytest.mark.realtime
def test_a_stream_url_is_read_as_it_delivers_and_thinned_to_fps() -> None:
    """A source that paces itself (here our own MJPEG stream at about 30 fps, read through
    cv2.VideoCapture like an IP camera) is read as it delivers and handed on at most at ``fps``."""
    camera = LiveFrame("testpattern:320x240", fps=30)
    with camera, LiveFrame(camera.mjpeg_url, fps=5, max_fps=0, keep_running=True) as lf:
        wait_for(lambda: lf._session.slot.count >= 2, timeout=15)
        first = lf._session.slot.count
        time.sleep(2.0)
        rate = (lf._session.slot.count - first) / 2.0
        assert 3.5 <= rate <= 6.0, f"{rate} frames/s handed on at fps=5"
