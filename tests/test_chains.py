"""Chain placement (``_chains``): which encoder chain each video viewer's next frame comes from. Pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from livecam_widget._chains import MAX_LAG, ChainBook, Seat, Take

PARAMS = (0, 0, "420")


def test_a_new_seat_starts_a_chain_with_a_keyframe_then_deltas() -> None:
    book, seat = ChainBook(), Seat()
    first = book.place(seat, PARAMS)
    assert first.new and first.key and first.index == 1
    second = book.place(seat, PARAMS)
    assert second == Take(first.chain, 2, new=True, key=False)
    assert book.chains == [first.chain] and first.chain.seats == 1


def test_seats_that_keep_pace_share_one_chain_and_one_encode_per_frame() -> None:
    book, a, b = ChainBook(), Seat(), Seat()
    book.place(a, PARAMS)
    book.place(b, PARAMS)  # joins a's chain: its next frame becomes a keyframe
    encodes = 0
    for _ in range(10):  # alternate, as two views painting at the same rate do
        for seat in (a, b):
            take = book.place(seat, PARAMS)
            encodes += take.new
    assert len(book.chains) == 1 and book.chains[0].seats == 2
    assert encodes == 10  # one per frame, not one per viewer


def test_seats_arriving_together_share_the_first_keyframe() -> None:
    book, a, b = ChainBook(), Seat(), Seat()
    first = book.place(a, PARAMS)
    assert book.place(b, PARAMS) == Take(first.chain, 1, new=False)


def test_a_seat_joining_makes_the_chains_next_frame_a_keyframe_for_everyone() -> None:
    book, a, b = ChainBook(), Seat(), Seat()
    book.place(a, PARAMS)
    book.place(a, PARAMS)
    joined = book.place(b, PARAMS)
    assert joined.new and joined.key and joined.index == 3
    again = book.place(a, PARAMS)  # a lacks frame 3 (b's keyframe): it takes it rather than a new one
    assert again == Take(joined.chain, 3, new=False)


def test_a_seat_up_to_max_lag_behind_takes_what_it_lacks_and_further_behind_forks_from_a_keyframe() -> None:
    book, fast, slow = ChainBook(), Seat(), Seat()
    book.place(fast, PARAMS)
    book.place(slow, PARAMS)
    start = slow.got
    for _ in range(MAX_LAG):
        book.place(fast, PARAMS)
    lagging = book.place(slow, PARAMS)  # MAX_LAG behind: takes the next frame it lacks
    assert not lagging.new and lagging.index == start + 1 and slow.chain is fast.chain
    for _ in range(MAX_LAG + 1):
        book.place(fast, PARAMS)
    forked = book.place(slow, PARAMS)
    assert forked.new and forked.key and forked.chain is not fast.chain
    assert len(book.chains) == 2
    assert not book.place(fast, PARAMS).key  # the fast seat's chain was not made to pay a keyframe


def test_a_key_request_a_new_look_or_level_moves_the_seat_to_a_keyframe() -> None:
    book, seat = ChainBook(), Seat()
    chain = book.place(seat, PARAMS).chain
    book.place(seat, PARAMS)
    seat.need_key = True
    again = book.place(seat, PARAMS)
    assert again.key and book.chains == [again.chain]  # alone on its chain: a new one in its place
    relooked = book.place(seat, (1, 0, "420"))
    assert relooked.key and relooked.chain is not chain and book.chains == [relooked.chain]
    stepped = book.place(seat, (1, 2, "420"))
    assert stepped.key and stepped.chain.params == (1, 2, "420")


def test_the_last_seat_leaving_drops_the_chain() -> None:
    book, a, b = ChainBook(), Seat(), Seat()
    chain = book.place(a, PARAMS).chain
    book.place(b, PARAMS)
    assert book.leave(a) is None and book.chains == [chain]
    assert book.leave(b) is chain and book.chains == []
    assert book.leave(b) is None  # leaving twice is harmless


@given(st.lists(st.tuples(st.integers(0, 2), st.booleans(), st.integers(0, 1)), max_size=80))
def test_every_seat_gets_its_chains_frames_in_order_from_a_keyframe(
    steps: list[tuple[int, bool, int]],
) -> None:
    """Whatever the interleaving, key requests and look changes: each seat's frames are consecutive frames
    of one chain, and whenever it changes chain (or asked for a key) the first frame it gets is a keyframe."""
    book, seats = ChainBook(), [Seat(), Seat(), Seat()]
    made: dict[tuple[int, int], bool] = {}  # (chain, index) -> keyframe
    got: list[tuple[int, int] | None] = [None, None, None]
    for who, wants_key, rev in steps:
        seat = seats[who]
        if wants_key:
            seat.need_key = True
        asked_key = seat.need_key
        take = book.place(seat, (rev, 0, "420"))
        if take.new:
            assert (take.chain.id, take.index) not in made
            made[take.chain.id, take.index] = take.key
        key = made[take.chain.id, take.index]
        previous = got[who]
        if asked_key or previous is None or previous[0] != take.chain.id:
            assert key, f"seat {who} started on a delta frame"
        elif not key:
            assert take.index == previous[1] + 1, "a seat skipped a frame of its chain"
        got[who] = (take.chain.id, take.index)
    assert sum(chain.seats for chain in book.chains) == sum(seat.chain is not None for seat in seats)
