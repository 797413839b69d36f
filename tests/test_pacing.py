import pytest

from livecam_widget._pacing import Deadline, Pacer, RateMeter, TokenBucket


def test_pacer_spaces_sends_by_one_interval(clock) -> None:
    pacer = Pacer(max_fps=10)
    assert pacer.delay(clock()) == 0.0
    pacer.sent(clock())
    clock.advance(0.04)
    assert pacer.delay(clock()) == pytest.approx(0.06)
    clock.advance(0.06)
    assert pacer.delay(clock()) == pytest.approx(0.0, abs=1e-9)
    pacer.max_fps = 0  # lifted cap applies at once
    pacer.sent(clock())
    assert pacer.delay(clock()) == 0.0


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


def test_pacer_keeps_a_grid_so_a_viewer_gets_every_frame_of_a_source_at_max_fps(clock) -> None:
    """A 30 fps source whose frames come 1-4 ms late (capture jitter), a viewer capped at 30 fps that always
    asks, and sleeps that overshoot by 1 ms (as asyncio's do): paced from the previous pick, the overshoot
    would add up until a frame is skipped; on a grid the viewer takes every frame."""
    pacer = Pacer(max_fps=30)
    start = clock()
    arrivals = [start + i / 30 + 0.001 + 0.003 * ((i * 7) % 5) / 4 for i in range(300)]
    picked: list[int] = []
    last = -1
    while last < len(arrivals) - 1:
        delay = pacer.delay(clock())
        if delay > 0:
            clock.advance(delay + 0.001)
        ready = [i for i, t in enumerate(arrivals) if t <= clock() and i > last]
        if ready:
            last = ready[-1]  # the newest frame there is
        else:
            last += 1
            clock.now = arrivals[last]  # wait for the next frame
        picked.append(last)
        pacer.sent(clock())
        clock.advance(0.002)  # the encode and send
    assert len(picked) >= 297, f"{len(picked)} of 300 frames"


def test_pacer_does_not_burst_after_an_idle_spell(clock) -> None:
    pacer = Pacer(max_fps=10)
    pacer.sent(clock())
    clock.advance(5.0)  # the view was paused
    assert pacer.delay(clock()) == 0.0
    pacer.sent(clock())
    assert pacer.delay(clock()) == pytest.approx(0.1)  # one interval from now, not a catch-up burst
