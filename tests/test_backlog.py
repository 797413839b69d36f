"""An MJPEG reader's backlog from the windows it advertises (``_backlog.ReaderBacklog``): numbers only."""

from __future__ import annotations

from livecam_widget._backlog import MAX_PROBE_S, ReaderBacklog, next_probe_s

PART = 200_000


def test_a_part_goes_once_the_reader_has_read_nearly_everything() -> None:
    backlog = ReaderBacklog()
    assert backlog.may_send(1_000_000, PART)  # the first window seen is the empty size
    assert not backlog.may_send(1_000_000 - PART, PART)  # a whole part unread
    assert backlog.may_send(1_000_000 - PART // 8, PART)  # a little left: send the newest now
    assert backlog.unread(1_000_000 - 30) == 30


def test_a_window_larger_than_ever_is_the_new_empty_size() -> None:
    backlog = ReaderBacklog()
    backlog.see(500_000)
    backlog.see(900_000)  # the receiver grew its buffer
    assert backlog.empty == 900_000 and not backlog.may_send(700_000, PART)


def test_the_empty_size_is_checked_once_when_the_reader_proves_slow() -> None:
    backlog = ReaderBacklog(empty=500_000)
    assert backlog.after_wait(False) is False
    assert backlog.after_wait(True) is False  # one wait can be chance
    assert backlog.after_wait(True) is True  # two in a row: hold a part back once and look
    assert not backlog.opened_further(500_000 + PART // 8, PART)
    assert backlog.opened_further(700_000, PART) and backlog.empty == 700_000  # a part had been queued
    assert backlog.after_wait(True) is False and backlog.after_wait(True) is False  # only once


def test_probes_back_off_to_a_bound() -> None:
    delays = [0.02]
    for _ in range(20):
        delays.append(next_probe_s(delays[-1]))
    assert delays == sorted(delays) and delays[-1] == MAX_PROBE_S
