"""Trait updates from the widget's own notifier thread (``_notify.Notifier``)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from livecam_widget._notify import Notifier
from tests.conftest import wait_for


def test_updates_reach_deliver_on_the_notifier_thread() -> None:
    got: list[tuple[str, Any, str]] = []
    notifier = Notifier(lambda name, value: got.append((name, value, threading.current_thread().name)))
    try:
        notifier.post("error", "bad")
        wait_for(lambda: got)
        assert got == [("error", "bad", "livecam-notify")]
    finally:
        notifier.close()


def test_a_busy_observer_gets_the_newest_value_not_a_backlog() -> None:
    release = threading.Event()
    got: list[tuple[str, Any]] = []

    def deliver(name: str, value: Any) -> None:
        got.append((name, value))
        if value == 0:
            release.wait(5)  # a slow observer, busy with the first report

    notifier = Notifier(deliver)
    try:
        notifier.post("stats", 0)
        wait_for(lambda: got)
        for i in range(1, 100):
            notifier.post("stats", i)
        notifier.post("error", "e")
        release.set()
        wait_for(lambda: len(got) == 3)
        assert got == [("stats", 0), ("stats", 99), ("error", "e")]
    finally:
        notifier.close()


def test_a_raising_observer_is_logged_and_later_ones_still_arrive(caplog: pytest.LogCaptureFixture) -> None:
    got: list[Any] = []

    def deliver(name: str, value: Any) -> None:
        if value == "raise":
            raise RuntimeError("observer broke")
        got.append(value)

    notifier = Notifier(deliver)
    try:
        with caplog.at_level(logging.ERROR, logger="livecam_widget"):
            notifier.post("stats", "raise")
            wait_for(lambda: "observer broke" in caplog.text)
        notifier.post("stats", "fine")
        wait_for(lambda: got == ["fine"])
    finally:
        notifier.close()


def test_close_joins_the_thread_and_later_posts_are_dropped() -> None:
    got: list[Any] = []
    notifier = Notifier(lambda name, value: got.append(value))
    notifier.post("stats", 1)
    wait_for(lambda: got)
    notifier.close()
    assert not any(t.name == "livecam-notify" for t in threading.enumerate())
    notifier.post("stats", 2)
    assert got == [1] and not any(t.name == "livecam-notify" for t in threading.enumerate())


def test_nothing_runs_before_the_first_update() -> None:
    notifier = Notifier(lambda name, value: None)
    assert not any(t.name == "livecam-notify" for t in threading.enumerate())
    notifier.close()
