"""Comm answers sent by the request's handling thread (Colab; ``_handoff``): the rule for when, the
hand-over itself with real threads, and a widget whose granted frames leave from the thread that asked."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from livecam_widget import _handoff
from livecam_widget._handoff import HandlerSend, is_grant, wanted
from tests.test_transports import RecordingLiveFrame, coded


def test_it_is_wanted_in_colab_or_when_asked_and_can_be_turned_off() -> None:
    colab = {"google.colab": object()}
    assert wanted({}, colab) and not wanted({}, {})
    assert wanted({"LIVECAM_COMM_FROM_HANDLER": "1"}, {})
    assert not wanted({"LIVECAM_COMM_FROM_HANDLER": "off"}, colab)
    assert wanted({"LIVECAM_COMM_FROM_HANDLER": "what"}, colab) is True  # unknown words leave the default


def test_only_a_grant_is_a_request_with_an_answer_to_wait_for() -> None:
    assert is_grant('{"type": "next"}') and is_grant('{"type":"next","painted":{"seq":1,"rev":0}}')
    assert not is_grant('{"type":"pointer","event":"click","x":1,"y":2,"button":0}')
    assert not is_grant("{not json") and not is_grant(None) and not is_grant('["next"]')


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []  # (livecam kind, sending thread's name)

    def __call__(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.sent.append((content["livecam"], threading.current_thread().name))


def test_what_comes_while_a_handler_waits_leaves_from_the_handler_in_order() -> None:
    record = Recorder()
    handoff = HandlerSend(record, hold=30.0)  # ended by the frame, never by the hold

    def serve() -> None:
        while not handoff._waiting:  # the handler is in answer()
            threading.Event().wait(0.001)
        handoff({"livecam": "text", "view": "v"}, [])
        handoff({"livecam": "frame", "view": "other"}, [b"x"])  # another view's frame does not end the wait
        handoff({"livecam": "frame", "view": "v"}, [b"y"])

    server = threading.Thread(name="server", target=serve)
    server.start()
    handoff.answer("v", ("frame",))
    server.join()
    me = threading.current_thread().name
    assert record.sent == [("text", me), ("frame", me), ("frame", me)]
    assert handoff.sent_by_handler == 3


def test_an_answer_that_comes_at_once_still_leaves_from_the_handler() -> None:
    """The request is passed on only once the handler counts as waiting: a server that answers within a
    millisecond (a frame that is ready) hands its answer over instead of sending it from its own thread
    while the handler waits the whole hold."""
    record = Recorder()
    handoff = HandlerSend(record, hold=30.0)

    def request() -> None:  # the server answers before this returns
        server = threading.Thread(
            name="server", target=handoff, args=({"livecam": "frame", "view": "v"}, [b""])
        )
        server.start()
        server.join()

    started = time.monotonic()
    handoff.answer("v", ("frame",), request)
    assert time.monotonic() - started < 10  # not the 30 s hold
    assert record.sent == [("frame", threading.current_thread().name)] and handoff.sent_by_handler == 1


def test_with_no_handler_waiting_a_message_leaves_at_once_from_its_own_thread() -> None:
    record = Recorder()
    handoff = HandlerSend(record, hold=0.0)
    handoff.answer("v", ("frame",))  # nothing came within the hold: nothing sent, returns
    assert record.sent == []
    thread = threading.Thread(name="server", target=handoff, args=({"livecam": "frame", "view": "v"}, [b""]))
    thread.start()
    thread.join()
    assert record.sent == [("frame", "server")] and handoff.sent_by_handler == 0


def test_a_widget_in_colab_mode_sends_granted_frames_from_the_thread_that_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVECAM_COMM_FROM_HANDLER", "1")
    monkeypatch.setattr(_handoff, "HOLD_S", 30.0)  # a loaded machine must not turn this into a timing test
    threads: list[str] = []

    class Threads(RecordingLiveFrame):
        def send(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
            if content.get("livecam") == "frame":
                threads.append(threading.current_thread().name)
            super().send(content, buffers)

    with Threads() as lf:
        lf.update(coded(1))
        lf.browser("v1", livecam="open")
        assert json.loads(lf.receive("v1", "text")[0]["text"])["type"] == "hello"
        started = time.monotonic()  # a pointer event has no answer: its handler returns at once, no 30 s hold
        lf.browser("v1", livecam="message", text='{"type":"pointer","event":"click","x":1,"y":2,"button":0}')
        assert time.monotonic() - started < 10
        for seq in range(2, 5):
            lf.browser("v1", livecam="message", text='{"type": "next"}')
            lf.receive("v1", "frame")
            lf.update(coded(seq))
        subshell = threading.Thread(
            name="subshell",
            target=lf.browser,
            args=("v1",),
            kwargs={"livecam": "message", "text": '{"type":"next"}'},
        )
        subshell.start()
        subshell.join()
        lf.receive("v1", "frame")
    assert threads == [threading.current_thread().name] * 3 + ["subshell"]
