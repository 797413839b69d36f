"""``_session.Session``: everything a widget owns besides its traits, used without anywidget."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from livecam_widget._encoder import Look, Settings
from livecam_widget._session import Session
from livecam_widget.client import fetch
from tests.conftest import livecam_threads, wait_for

pytestmark = pytest.mark.usefixtures("no_leaks")


class Traits:
    """What the widget would set, and on which thread."""

    def __init__(self) -> None:
        self.got: list[tuple[str, Any, str]] = []

    def __call__(self, name: str, value: Any) -> None:
        self.got.append((name, value, threading.current_thread().name))

    def names(self) -> set[str]:
        return {name for name, _, _ in self.got}


def test_a_session_streams_reports_and_closes_without_a_widget() -> None:
    traits = Traits()
    session = Session("testpattern:160x120", Look(settings=Settings(), max_fps=0), traits, fps=30)
    session.start()
    (frame,) = fetch(session.url, 1)
    assert frame.decode().shape == (120, 160, 3)
    wait_for(lambda: "stats" in traits.names())
    assert {thread for _, _, thread in traits.got} == {"livecam-notify"}  # never the loop's thread
    assert session.close() is True
    assert session.close() is False  # idempotent
    assert session.url == ""
    wait_for(lambda: not livecam_threads())


def test_an_ended_source_is_delivered_as_state_ended(video_file: Path) -> None:
    traits = Traits()
    session = Session(str(video_file), Look(), traits, keep_running=True)
    session.start()
    try:
        wait_for(lambda: ("state", "ended", "livecam-notify") in traits.got)
    finally:
        session.close()


def test_a_source_that_cannot_open_releases_everything_and_raises() -> None:
    with pytest.raises(FileNotFoundError, match="video file not found"):
        Session("no-such-clip.mp4", Look(), Traits())
    wait_for(lambda: not livecam_threads())


def test_a_process_error_reaches_the_error_trait_off_the_loop() -> None:
    traits = Traits()

    def broken(frame: np.ndarray) -> np.ndarray:
        raise ValueError("user bug")

    session = Session(None, Look(process=broken, max_fps=0), traits)
    try:
        session.update(np.zeros((8, 8, 3), np.uint8))
        with pytest.raises(TimeoutError):
            fetch(session.url, 1, timeout=0.5)
        wait_for(lambda: any(n == "error" and "user bug" in str(v) for n, v, _ in traits.got))
        assert {thread for name, _, thread in traits.got if name == "error"} == {"livecam-notify"}
        with pytest.raises(ValueError, match="user bug"):
            session.snapshot()
    finally:
        session.close()
