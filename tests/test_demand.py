"""Who wants frames (``_demand.Demand``), on a fake clock: the grace, standing wants, requests."""

from __future__ import annotations

import threading

from livecam_widget._demand import Demand
from tests.conftest import FakeClock


def test_nothing_is_wanted_until_someone_asks_and_the_grace_then_runs_out(clock: FakeClock) -> None:
    demand = Demand(grace=2.0, clock=clock)
    assert not demand.wanted()
    assert demand.ask() is True  # the source was idle: what it made before is stale
    demand.done()
    assert demand.wanted()
    clock.advance(1.9)
    assert demand.wanted() and demand.ask() is False  # still within the grace: nothing stale
    demand.done()
    clock.advance(2.1)
    assert not demand.wanted()


def test_a_waiting_request_or_a_hold_keeps_it_wanted_past_the_grace(clock: FakeClock) -> None:
    demand = Demand(grace=2.0, clock=clock)
    demand.ask()
    clock.advance(60)  # a request waiting a long time (a slow source)
    assert demand.wanted()
    demand.done()
    clock.advance(2.1)
    assert not demand.wanted()
    demand.hold()  # a recording
    clock.advance(60)
    assert demand.wanted() and demand.held
    demand.release()
    assert demand.wanted()  # the grace starts at the release
    clock.advance(2.1)
    assert not demand.wanted()


def test_a_paced_source_goes_while_wanted_and_is_told_when_it_idled(clock: FakeClock) -> None:
    demand = Demand(grace=2.0, clock=clock)
    demand.ask()
    demand.done()
    assert demand.await_frames(on_demand=False, served=0) == (True, False)
    clock.advance(3.0)
    woke: list[tuple[bool, bool]] = []
    thread = threading.Thread(target=lambda: woke.append(demand.await_frames(False, 0)))
    thread.start()
    thread.join(0.2)
    assert thread.is_alive() and not woke  # idle: blocked until someone asks
    demand.ask()
    thread.join(5)
    assert woke == [(True, True)]


def test_an_on_demand_source_reads_once_per_batch_of_requests(clock: FakeClock) -> None:
    demand = Demand(grace=2.0, clock=clock)
    demand.ask()
    demand.ask()  # two viewers waiting
    served = -1
    assert demand.await_frames(on_demand=True, served=served)[0]
    served = demand.asks  # one frame answers both
    go: list[tuple[bool, bool]] = []
    thread = threading.Thread(target=lambda: go.append(demand.await_frames(True, served)))
    thread.start()
    thread.join(0.2)
    assert thread.is_alive(), "read again with no new request"
    demand.done()
    demand.done()
    demand.ask()  # the next request
    thread.join(5)
    assert go and go[0][0]


def test_interrupt_wakes_the_source_thread_to_stop(clock: FakeClock) -> None:
    demand = Demand(grace=2.0, clock=clock)
    result: list[tuple[bool, bool]] = []
    thread = threading.Thread(target=lambda: result.append(demand.await_frames(False, 0)))
    thread.start()
    thread.join(0.1)
    demand.interrupt()
    thread.join(5)
    assert result == [(False, True)]
