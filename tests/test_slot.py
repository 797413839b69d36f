import numpy as np

from livecam_widget._slot import LatestFrame


def test_latest_wins_and_overwritten_frames_count_as_dropped(clock) -> None:
    slot = LatestFrame(clock=clock)
    assert slot.peek() is None
    for i in range(5):
        clock.advance(0.01)
        slot.put(np.full((1, 1), i, np.uint8))
    frame = slot.peek()
    assert frame is not None
    assert frame.seq == 5 and int(frame.data[0, 0]) == 4
    assert frame.t_capture == clock.now
    assert slot.dropped == 4  # frames 1..4 were never taken
    slot.take(5)
    slot.put(np.zeros((1, 1), np.uint8))
    assert slot.dropped == 4  # frame 5 was taken before being replaced


def test_take_of_an_old_seq_does_not_mark_the_new_frame(clock) -> None:
    slot = LatestFrame(clock=clock)
    slot.put(np.zeros((1, 1), np.uint8))
    slot.put(np.zeros((1, 1), np.uint8))
    slot.take(1)
    slot.put(np.zeros((1, 1), np.uint8))
    assert slot.dropped == 2


def test_on_put_is_called_with_the_seq(clock) -> None:
    seen: list[int] = []
    slot = LatestFrame(clock=clock)
    slot.on_put = seen.append
    slot.put(np.zeros((1, 1), np.uint8))
    slot.put(np.zeros((1, 1), np.uint8))
    assert seen == [1, 2]
    assert slot.count == 2
