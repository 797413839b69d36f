"""The browser benchmark's reading of Chromium's trace: which presentation each read of the page went out in.

The events have the shapes Chromium 156 writes for `bench.browser.TRACE_CATEGORIES`: user-timing marks on the
page's main thread; the compositor's `Commit` stage, `ActivateLayerTree` and the
`SubmitCompositorFrameToPresentationCompositorFrame` stage, which each of a frame's pipeline reporters writes.
"""

from __future__ import annotations

from bench.browser import to_screen

PAGE, OTHER = 100, 200


def mark(n: int, ms: float, pid: int = PAGE) -> dict:
    return {"name": f"livecam-read-{n}", "ph": "I", "pid": pid, "ts": ms * 1000}


def at(name: str, ph: str, ms: float, pid: int = PAGE) -> dict:
    return {"name": name, "ph": ph, "pid": pid, "ts": ms * 1000, "id2": {"local": "0x1"}}


def frame(submitted: float, presented: float, reporters: int = 2) -> list[dict]:
    """One compositor frame, written once per pipeline reporter (a frame usually has two)."""
    stage = "SubmitCompositorFrameToPresentationCompositorFrame"
    return [at(stage, "b", submitted)] * reporters + [at(stage, "e", presented)] * reporters


def test_a_read_goes_out_with_the_next_commit_and_activation() -> None:
    events = [
        *frame(2, 5),  # the frame before the read's: not it
        mark(0, 10),
        at("Commit", "b", 11),
        at("ActivateLayerTree", "I", 12),
        *frame(12.1, 15),
    ]
    assert to_screen(events) == {0: (2.0, 5.0)}


def test_activation_waits_for_rasterization_and_frames_in_between_are_not_it() -> None:
    # An <img>'s new JPEG is decoded while its tree is rasterized: the frames submitted meanwhile still
    # carry the old tree, and the read's picture goes out with the first frame after the activation.
    events = [
        mark(0, 10),
        at("Commit", "b", 11),
        *frame(14, 17),
        at("ActivateLayerTree", "I", 25),
        *frame(25.5, 28.5),
    ]
    assert to_screen(events) == {0: (15.0, 18.5)}


def test_frames_are_presented_in_the_order_they_were_submitted() -> None:
    # The second frame is submitted before the first is presented: each keeps its own presentation.
    stage = "SubmitCompositorFrameToPresentationCompositorFrame"
    events = [
        mark(0, 0),
        at("Commit", "b", 1),
        at("ActivateLayerTree", "I", 2),
        at(stage, "b", 3),
        mark(1, 4),
        at("Commit", "b", 5),
        at("ActivateLayerTree", "I", 6),
        at(stage, "b", 7),
        at(stage, "e", 9),
        at(stage, "e", 20),
    ]
    assert to_screen(events) == {0: (2.0, 9.0), 1: (2.0, 16.0)}


def test_reads_not_yet_on_screen_and_other_processes_are_left_out() -> None:
    events = [
        mark(0, 10),
        at("Commit", "b", 11, pid=OTHER),
        at("ActivateLayerTree", "I", 12, pid=OTHER),
        *[dict(e, pid=OTHER) for e in frame(12.5, 13)],
        at("Commit", "b", 14),
        at("ActivateLayerTree", "I", 15),
        *frame(15.5, 18),
        mark(1, 30),  # the trace ended before its frame was committed
    ]
    assert to_screen(events) == {0: (5.0, 8.0)}
    assert to_screen([]) == {}
