"""The viewer rules (``_viewer.ViewerCore``), fed events and a fake clock: no sockets, no sleeping."""

from __future__ import annotations

import json

import pytest

from livecam_widget._encoder import Encoded
from livecam_widget._protocol import (
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    MAX_CLIENT_MESSAGE,
    Pointer,
)
from livecam_widget._quality import LADDER
from livecam_widget._viewer import NOTHING_SENT, Close, Granted, Limits, Noted, ViewerCore
from tests.conftest import FakeClock

WALL = 1_700_000_000.0  # wall clock at FakeClock's start


def encoded(seq: int, rev: int = 0, t_capture: float = WALL) -> Encoded:
    return Encoded(seq, rev, t_capture, "image/jpeg", 8, 8, 8, 8, b"x" * 10, 1.0)


def nxt(painted: tuple[int, int] | None = None) -> str:
    message: dict[str, object] = {"type": "next"}
    if painted is not None:
        message["painted"] = {"seq": painted[0], "rev": painted[1]}
    return json.dumps(message)


def core_at(clock: FakeClock, **limits: float) -> ViewerCore:
    return ViewerCore(Limits(**limits), clock())  # type: ignore[arg-type]


def wall(clock: FakeClock) -> float:
    return WALL + clock() - 1000.0


def test_hello_says_the_limits_and_state(clock: FakeClock) -> None:
    hello = json.loads(core_at(clock, max_outstanding=3).hello("paused"))
    assert hello == {
        "type": "hello",
        "protocol": 1,
        "max_outstanding": 3,
        "max_messages_per_s": 1000.0,
        "state": "paused",
    }


def test_a_next_is_a_grant_and_a_frame_spends_it(clock: FakeClock) -> None:
    core = core_at(clock)
    assert not core.wants_frame and core.last_key == NOTHING_SENT
    assert core.receive(nxt(), clock(), wall(clock)) == Granted()
    assert core.wants_frame and core.outstanding == 1 and core.requests == 1
    core.sent(encoded(5), clock())
    assert not core.wants_frame and core.last_key == (5, 0)


def test_grants_beyond_max_outstanding_close_with_1008(clock: FakeClock) -> None:
    core = core_at(clock, max_outstanding=2)
    assert core.receive(nxt(), clock(), wall(clock)) == Granted()
    assert core.receive(nxt(), clock(), wall(clock)) == Granted()
    decision = core.receive(nxt(), clock(), wall(clock))
    assert decision == Close(CLOSE_POLICY, "more than 2 outstanding requests")


def test_one_message_may_grant_several_frames_within_max_outstanding(clock: FakeClock) -> None:
    """``n`` grants count against max_outstanding like single grants, and as one message against the rate
    limit: a fast client asks for frames in pairs and sends half the messages."""
    core = core_at(clock, max_outstanding=4, max_messages_per_s=2)
    assert core.receive('{"type":"next","n":3}', clock(), wall(clock)) == Granted()
    assert core.outstanding == 3 and core.requests == 3
    decision = core.receive('{"type":"next","n":2}', clock(), wall(clock))
    assert decision == Close(CLOSE_POLICY, "more than 4 outstanding requests")
    core = core_at(clock, max_outstanding=4, max_messages_per_s=2)
    assert [core.receive('{"type":"next","n":2}', clock(), wall(clock)) for _ in range(2)] == [Granted()] * 2
    assert core.outstanding == 4  # four frames granted by two messages, within a limit of two a second


def test_the_message_rate_limit_refills_with_time(clock: FakeClock) -> None:
    core = core_at(clock, max_messages_per_s=10, max_outstanding=1000)
    decisions = [core.receive(nxt(), clock(), wall(clock)) for _ in range(11)]
    assert decisions[:10] == [Granted()] * 10
    assert decisions[10] == Close(CLOSE_POLICY, "more than 10 messages/s")
    clock.advance(0.5)  # five tokens back
    assert [core.receive(nxt(), clock(), wall(clock)) for _ in range(5)] == [Granted()] * 5


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"\x00binary", CLOSE_UNSUPPORTED),
        ("x" * (MAX_CLIENT_MESSAGE + 1), CLOSE_TOO_BIG),
        ("not json", CLOSE_POLICY),
        ('{"type": "shout"}', CLOSE_POLICY),
    ],
)
def test_protocol_errors_become_close_decisions(clock: FakeClock, message: str | bytes, code: int) -> None:
    decision = core_at(clock).receive(message, clock(), wall(clock))
    assert isinstance(decision, Close) and decision.code == code


def test_pointer_events_are_handed_on_and_are_not_grants(clock: FakeClock) -> None:
    core = core_at(clock)
    decision = core.receive('{"type":"pointer","event":"click","x":3,"y":4}', clock(), wall(clock))
    assert decision == Pointer("click", 3, 4, 3, 4, 0)
    assert core.outstanding == 0 and core.requests == 0


def test_a_capped_viewer_takes_frames_a_capture_interval_apart_under_the_lower_cap(clock: FakeClock) -> None:
    core = core_at(clock)
    assert core.window(20.0).admits(0.0, now=0.0)  # the first frame: any
    core.picked(10.0)
    assert not core.window(20.0).admits(10.03, now=10.03)  # 20 fps: the next slot at 10.05, open from 10.0375
    assert core.window(20.0).admits(10.04, now=10.04)
    assert core.window(0.0).admits(10.001, now=10.001)  # max_fps=0: no cap
    capped = ViewerCore(Limits(), clock(), own_cap=5.0)  # MJPEG's ?fps=5 under max_fps=20
    capped.picked(10.0)
    assert not capped.window(20.0).admits(10.1, now=10.1) and capped.window(20.0).admits(10.2, now=10.2)
    assert not capped.window(2.0).admits(10.2, now=10.2)  # the widget's cap, when lower, wins
    assert capped.window(2.0).admits(10.4, now=10.4)


def test_a_viewer_that_always_asks_gets_max_fps_of_a_faster_source(clock: FakeClock) -> None:
    """What the server's sender does, frame by frame: 2 s of a 100 fps source and a viewer that re-grants
    at once, capped at 20 fps."""
    core = core_at(clock)
    sent = 0
    for i in range(200):
        t_capture = WALL + i / 100
        core.receive(nxt(), clock(), wall(clock))
        if core.window(20.0).admits(t_capture, now=t_capture):
            core.picked(t_capture)
            sent += 1
            core.sent(encoded(sent, t_capture=t_capture), clock())
        clock.advance(0.01)
    assert sent in (40, 41)  # the first interval may be up to a quarter short


def test_a_failed_render_moves_on_without_spending_the_grant(clock: FakeClock) -> None:
    core = core_at(clock)
    core.receive(nxt(), clock(), wall(clock))
    core.failed((7, 2))
    assert core.last_key == (7, 2) and core.wants_frame


def test_paint_reports_give_latency_and_rates(clock: FakeClock) -> None:
    core = core_at(clock)
    for seq in range(1, 11):
        core.receive(nxt((seq - 1, 0)) if seq > 1 else nxt(), clock(), wall(clock))
        core.sent(encoded(seq, t_capture=wall(clock) - 0.010), clock())  # captured 10 ms before sending
        clock.advance(0.030)  # 30 ms to the browser's paint report
    core.receive(nxt((10, 0)), clock(), wall(clock))
    stats = core.stats(clock())
    assert stats["latency_ms"] == pytest.approx(40.0)
    assert stats["fps_painted"] == 10 and stats["fps_sent"] == 10
    assert stats["requests"] == 11 and stats["outstanding"] == 1
    clock.advance(3.0)  # old reports age out
    assert core.stats(clock())["latency_ms"] is None and core.stats(clock())["fps_painted"] == 0


def test_a_viewer_that_never_reports_paints_holds_bounded_records(clock: FakeClock) -> None:
    core = core_at(clock, max_outstanding=4)
    for seq in range(1, 1001):
        core.grant(clock())
        core.sent(encoded(seq), clock())
    assert len(core._sent_at) <= 10 and len(core._t_capture) <= 10


def test_automatic_quality_steps_a_slow_viewer_down_and_holds_an_idle_one(clock: FakeClock) -> None:
    slow, idle = core_at(clock), core_at(clock)
    seq = 0
    for _ in range(9):  # 9 s at 4 fps painted against a 30 fps source
        for _ in range(4):
            seq += 1
            slow.receive(nxt((seq - 1, 0)), clock(), wall(clock))
            slow.sent(encoded(seq), clock())
            clock.advance(0.25)
        slow.adapt(clock(), 30.0, 30.0)
        idle.adapt(clock(), 30.0, 30.0)  # asked for nothing: a hidden or paused view
    assert slow.quality.level >= 3
    assert idle.quality.level == 0
    assert slow.stats(clock())["quality_level"] == slow.quality.level < len(LADDER)


def test_automatic_quality_keeps_a_viewer_that_keeps_up_on_top(clock: FakeClock) -> None:
    fast = core_at(clock)
    for seq in range(1, 301):  # 10 s at 30 fps, each frame painted when the next is asked for
        fast.receive(nxt((seq - 1, 0)), clock(), wall(clock))
        fast.sent(encoded(seq), clock())
        clock.advance(1 / 30)
        if seq % 30 == 0:
            fast.adapt(clock(), 30.0, 30.0)
    assert fast.quality.level == 0


def test_a_video_offer_or_key_request_asks_for_a_keyframe_and_auto_moves_a_slow_viewer_to_video(
    clock: FakeClock,
) -> None:
    core = core_at(clock)
    assert not core.wants_video("h264")  # nothing offered: images
    core.seat.need_key = False
    assert core.receive('{"type":"video","codecs":["h264"]}', clock(), wall(clock)) == Noted()
    assert core.seat.need_key and core.wants_video("h264") and not core.wants_video("auto")
    assert core.video_chroma == "420"
    core.seat.need_key = False
    assert core.receive('{"type":"video","codecs":["h264","h264-444"]}', clock(), wall(clock)) == Noted()
    assert core.seat.need_key and core.video_chroma == "444", "a decoder that takes 4:4:4 gets it, from a key"
    core.seat.need_key = False
    assert core.receive('{"type":"next","key":true}', clock(), wall(clock)) == Granted()
    assert core.seat.need_key
    assert not core.video_if_slow()  # keeps up at the top step: stays on images
    core.quality.level = 1
    assert core.video_if_slow() and core.wants_video("auto") and core.quality.level == 0
    assert not core.video_if_slow()  # once, for the rest of the connection
    images_only = core_at(clock)
    images_only.quality.level = 2
    assert not images_only.video_if_slow() and not images_only.wants_video("auto")
