import itertools

import pytest

from livecam_widget._pacing import ANY_CAPTURE, CaptureGrid, Deadline, RateMeter, TokenBucket


def test_rate_meter_counts_events_in_the_window(clock) -> None:
    meter = RateMeter(window=1.0)
    for _ in range(30):
        meter.add(clock())
        clock.advance(1 / 30)
    assert meter.rate(clock()) == pytest.approx(29, abs=1)
    clock.advance(2.0)
    assert meter.rate(clock()) == 0
    assert meter.total == 30


def test_token_bucket_allows_bursts_then_the_rate(clock) -> None:
    bucket = TokenBucket(rate=10, burst=3, now=clock())
    assert [bucket.allow(clock()) for _ in range(4)] == [True, True, True, False]
    clock.advance(0.1)
    assert bucket.allow(clock()) is True
    assert bucket.allow(clock()) is False


def test_deadline_paces_without_drift_and_skips_ahead_when_late(clock) -> None:
    deadline = Deadline(fps=10)
    assert deadline.wait_time(clock()) == 0.0
    clock.advance(0.03)  # the producer's own work took 30 ms
    assert deadline.wait_time(clock()) == pytest.approx(0.07)
    clock.advance(0.07)
    clock.advance(0.5)  # fell far behind: no burst of catch-up frames
    assert deadline.wait_time(clock()) == 0.0
    clock.advance(0.01)
    assert deadline.wait_time(clock()) == pytest.approx(0.09)
    assert Deadline(None).wait_time(clock()) == 0.0


def picks_on_capture_times(fps: float, captures: list[float]) -> list[int]:
    """What a viewer capped at ``fps`` that always asks gets from frames captured at ``captures``: the
    first frame each window admits (``ViewerCore.window`` and ``picked`` in the server)."""
    grid, picked = CaptureGrid(fps), []
    for i, t in enumerate(captures):
        if grid.window().admits(t, now=t):  # each frame looked at as it is captured
            picked.append(i)
            grid.take(t)
    return picked


def test_a_capped_viewer_gets_every_frame_of_a_source_at_its_cap_through_jitter() -> None:
    """A 30 fps source whose frames come 1-4 ms late, irregularly: on a grid of capture times (half an
    interval of tolerance) the viewer capped at 30 fps gets every frame; late frames do not move the grid."""
    captures = [i / 30 + 0.001 + 0.003 * ((i * 7) % 5) / 4 for i in range(300)]
    assert picks_on_capture_times(30, captures) == list(range(300))
    late = [i / 30 + (0.012 if i % 10 == 3 else 0.0) for i in range(300)]  # every tenth 12 ms late
    assert picks_on_capture_times(30, late) == list(range(300))


def test_a_faster_source_is_thinned_to_the_cap_on_capture_times() -> None:
    assert picks_on_capture_times(30, [i / 60 for i in range(600)]) == list(range(0, 600, 2))
    picked = picks_on_capture_times(30, [i / 40 for i in range(400)])  # 10 s at 40 fps
    assert 299 <= len(picked) <= 301
    assert max(b - a for a, b in itertools.pairwise(picked)) <= 2


def test_a_capped_viewer_starts_a_new_grid_after_an_idle_spell_instead_of_bursting() -> None:
    captures = [0.0, 0.1, 5.0, 5.01, 5.05, 5.08, 5.1, 5.2]  # 10 fps cap; the view was paused for 5 s
    assert picks_on_capture_times(10, captures) == [0, 1, 2, 5, 7]  # 5.08: a quarter interval early


def test_a_capture_clock_set_back_does_not_freeze_a_capped_viewer() -> None:
    captures = [100.0, 100.1, 100.2, 40.0, 40.1, 40.2]  # the wall clock jumped back a minute
    assert picks_on_capture_times(10, captures) == [0, 1, 2, 3, 4, 5]


def test_the_last_frame_of_a_source_that_stopped_still_goes_half_an_interval_past_its_slot() -> None:
    grid = CaptureGrid(10)  # slots 100 ms apart
    grid.take(5.0)
    window = grid.window()
    assert not window.admits(5.01, now=5.01)  # too soon after the last: a newer frame is due by 5.1
    assert not window.admits(5.01, now=5.149)
    assert window.admits(5.01, now=5.15)  # none came: the newest there is
    grid.take(5.01)  # the grid was ahead of this source: it starts again at the frame taken
    assert grid.window().admits(5.11, now=5.11)


def test_no_cap_admits_every_frame() -> None:
    assert picks_on_capture_times(0, [0.0, 0.001, 0.002]) == [0, 1, 2]
    grid = CaptureGrid(10)
    grid.take(1.0)
    assert not grid.window().admits(1.05, now=1.05)
    grid.fps = 0  # the cap lifted: at once
    assert grid.window() == ANY_CAPTURE
