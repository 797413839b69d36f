"""An MJPEG reader's backlog from the windows it advertises (``_backlog.ReaderBacklog``): numbers only.

The windows below follow what Linux advertises: shrinking by what arrives, growing by what the reader reads,
and (receive-buffer autotuning) growing by 128 KiB per arriving packet on loopback whether or not it reads.
"""

from __future__ import annotations

from livecam_widget._backlog import MAX_HOLD_S, MAX_PROBE_S, MIN_HOLD_S, ReaderBacklog, next_probe_s

PART = 200_000
GROWTH = 131_072


def settled(empty: int = 1_000_000) -> ReaderBacklog:
    """Books after a first part that the reader read at once (doubt ended by the hold: no read seen yet,
    so the shortest one)."""
    backlog = ReaderBacklog()
    backlog.see(empty, PART, 0.0, part=True)  # first sight: whether it was read is unknown
    assert not backlog.may_send(PART) and backlog.doubt_since == 0.0
    backlog.see(empty, 2, MIN_HOLD_S)  # the window never opened further: it had been read
    assert backlog.may_send(PART) and backlog.empty == empty
    return backlog


def test_a_part_goes_once_the_reader_has_read_nearly_everything() -> None:
    backlog = settled()
    backlog.see(1_000_000 - PART, PART, 1.0, part=True)
    assert backlog.unread == PART and not backlog.may_send(PART)
    backlog.see(1_000_000 - PART // 8, 2, 1.3)  # most of it read: send the newest now
    assert backlog.may_send(PART) and backlog.unread == PART // 8
    assert abs(backlog.period - 0.3) < 1e-9  # how long this reader took


def test_a_reader_that_stops_is_waited_for_without_end() -> None:
    backlog = settled()
    backlog.see(1_000_000 - PART, PART, 1.0, part=True)
    for step in range(1, 200):
        backlog.see(1_000_000 - PART - 2 * step, 2, 1.0 + step * 0.1)  # probes arrive, nothing is read
    assert not backlog.may_send(PART) and backlog.doubt_since is None


def test_window_growth_while_parts_wait_is_not_taken_as_reads() -> None:
    """The CI failure: after a slow reader's first read, each small part came back with a window 128 KiB
    larger. Read as "all read", twenty parts went out in 0.2 s and the reader saw frames 6 s old."""
    small = 5_500
    backlog = settled(122_880)
    window = 122_880
    backlog.see(window - small, small, 1.0, part=True)
    backlog.see(window, 2, 1.5)  # the reader read it after half a second
    assert backlog.may_send(small) and abs(backlog.period - 0.5) < 1e-9
    window += GROWTH - small  # the next part arrives; the receiver grows its window; nothing read
    backlog.see(window, small, 1.52, part=True)
    assert not backlog.may_send(small) and backlog.doubt_since == 1.52
    backlog.see(window + GROWTH, 2, 1.6)  # a probe: grown again, still nothing to say it was read
    assert not backlog.may_send(small)
    backlog.see(window + GROWTH + small, 2, 2.0)  # the reader reads it: the window opens by a part
    assert backlog.may_send(small) and backlog.doubt_since is None


def test_a_read_seen_during_doubt_ends_it_and_measures_the_reader() -> None:
    """Probes do not grow the window, so a read during doubt shows at the next probe."""
    backlog = ReaderBacklog()
    backlog.see(109_568, 206_069, 0.0, part=True)
    backlog.see(109_568, 2, 0.02)
    assert not backlog.may_send(PART)  # still unknown, within the shortest hold
    backlog.see(109_568 + 206_069, 2, 0.04)  # it read the part: the probe's window shows it
    assert backlog.may_send(PART) and backlog.period == 0.04 and abs(backlog.hold_s() - 0.06) < 1e-9
    assert backlog.doubt_since is None


def test_doubt_ends_after_one_and_a_half_periods_within_bounds() -> None:
    part = 50_000  # smaller than one growth step, so the rise cannot be reads alone
    backlog = settled()
    backlog.period = 0.4
    assert abs(backlog.hold_s() - 0.6) < 1e-9
    backlog.see(1_000_000 + GROWTH - part, part, 10.0, part=True)  # grew as it arrived: unknown
    backlog.see(1_000_000 + GROWTH - part, 2, 10.5)
    assert not backlog.may_send(part)
    backlog.see(1_000_000 + GROWTH - part, 2, 10.7)  # a reader that read but whose window never shows it
    assert backlog.may_send(part) and backlog.empty == 1_000_000 + GROWTH - part
    backlog.period = 0.0
    assert backlog.hold_s() == MIN_HOLD_S
    backlog.period = None
    assert backlog.hold_s() == MIN_HOLD_S
    backlog.period = 60.0
    assert backlog.hold_s() == MAX_HOLD_S


def test_a_shrinking_window_is_the_new_empty_size() -> None:
    backlog = settled()
    backlog.see(600_000, 0, 1.0)  # the receiver took memory back
    assert backlog.empty == 600_000 and backlog.may_send(PART)
    backlog.see(600_000 - PART, PART, 1.1, part=True)
    assert not backlog.may_send(PART)


def test_probes_back_off_to_a_bound() -> None:
    delays = [0.02]
    for _ in range(20):
        delays.append(next_probe_s(delays[-1]))
    assert delays == sorted(delays) and delays[-1] == MAX_PROBE_S


def test_less_unread_than_a_segment_may_all_have_been_read() -> None:
    """Linux moves a window in steps of a segment: a 5 KB part read on loopback (64 KiB segments) leaves
    the window where it was, and waiting to see it read would wait for ever."""
    backlog = settled()
    backlog.resolution = 65_483
    backlog.see(1_000_000 - 5_120, 5_500, 1.0, part=True)
    assert backlog.may_send(5_500)
    backlog.resolution = 1_448  # over Ethernet the same part shows
    assert not backlog.may_send(5_500)


def test_parts_go_in_pieces_while_the_window_grows() -> None:
    backlog = ReaderBacklog()
    assert backlog.growing  # nothing known: assume it grows
    backlog.see(100_000, PART, 0.0, part=True)
    assert not backlog.growing
    backlog.see(100_000 + PART + GROWTH, 2, 0.02)  # more than reads could explain
    assert backlog.growing
    backlog.see(100_000 + PART + GROWTH, 2, 0.5)
    backlog.see(100_000 + GROWTH, PART, 1.0, part=True)  # the next part: no growth seen with it
    assert not backlog.growing
