"""Which encoder chain a video viewer's next frame comes from; pure: no codec, no loop, no clock.

A video frame other than a keyframe is a difference from the previous frame its encoder produced, so it is
decodable only by a viewer that got every frame of that encoder since its last keyframe. An encoder and the
frames it produced is a *chain*; each video viewer has a *seat* on one. Viewers that keep the same pace share
a chain, so a frame is encoded about once for all of them, as an image is:

- a seat that has every frame of its chain asks the chain for a new one (a difference from the chain's last
  frame, however many source frames were skipped between);
- a seat one or two frames behind its chain takes the next frame it lacks (a frame another viewer asked for
  a moment ago, still fresh);
- a seat that needs a keyframe (new, after a decode error, after its quality level or the look changed)
  joins a chain of the same look and level, whose next frame becomes a keyframe, or starts one;
- a seat further behind starts a chain of its own, from a keyframe: rejoining the chain it could not keep
  up with would cost that chain's faster viewers a keyframe each time.

A chain nobody sits on is dropped with its encoder.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

#: How many frames a seat may trail its chain's newest and still take the frames it lacks.
MAX_LAG = 2
#: What a chain encodes for: the look's ``rev``, the viewer's automatic-quality level and the chroma format
#: its decoder takes ("420" or "444", ``_h264.CHROMA``).
ChainParams = tuple[int, int, str]

_chain_ids = itertools.count(1)


@dataclass(eq=False)
class Chain:
    params: ChainParams
    id: int = field(default_factory=lambda: next(_chain_ids))
    #: Frames produced (or being produced) so far; frame ``n`` is the chain's n-th, from 1.
    count: int = 0
    #: The next frame must be a keyframe (a seat joined, or the chain is new).
    key_next: bool = True
    #: The newest frame is a keyframe: a joining seat can start on it.
    newest_key: bool = False
    seats: int = 0


@dataclass(eq=False)
class Seat:
    """One video viewer's place: its chain, and how many of that chain's frames it has taken."""

    chain: Chain | None = None
    got: int = 0
    #: The viewer lost its decoder state (or never had one): its next frame must be a keyframe.
    need_key: bool = True


@dataclass(frozen=True)
class Take:
    """Decision: the seat's next frame is frame ``index`` of ``chain``. ``new``: it is not made yet, encode
    it from the picked source frame (``key``: as a keyframe); else it exists or is on its way."""

    chain: Chain
    index: int
    new: bool
    key: bool = False


class ChainBook:
    """The chains of one stream; loop-owned."""

    def __init__(self) -> None:
        self.chains: list[Chain] = []

    def place(self, seat: Seat, params: ChainParams) -> Take:
        """Where ``seat``'s next frame comes from, for a viewer that wants frames at ``params`` now."""
        chain = seat.chain
        behind = chain is not None and chain.count - seat.got > MAX_LAG
        if chain is not None and (seat.need_key or chain.params != params or behind):
            self.leave(seat)
            chain = None
        if chain is None:
            chain = self._join(seat, params, share=not behind)
        seat.need_key = False
        if seat.got < chain.count:
            seat.got += 1
            return Take(chain, seat.got, new=False)
        chain.count += 1
        seat.got = chain.count
        key, chain.key_next = chain.key_next, False
        chain.newest_key = key
        return Take(chain, chain.count, new=True, key=key)

    def _join(self, seat: Seat, params: ChainParams, share: bool) -> Chain:
        chain = next((c for c in self.chains if c.params == params), None) if share else None
        if chain is None:
            chain = Chain(params)
            self.chains.append(chain)
        chain.seats += 1
        seat.chain = chain
        if chain.newest_key:  # start on the keyframe just made (seats arriving together share it)
            seat.got = chain.count - 1
        else:  # the chain's next frame becomes a keyframe, which every seat on it can take
            seat.got = chain.count
            chain.key_next = True
        return chain

    def leave(self, seat: Seat) -> Chain | None:
        """The seat leaves its chain (its viewer left, or needs another chain); returns the chain if that
        left it empty (the caller drops its encoder)."""
        chain, seat.chain = seat.chain, None
        seat.got = 0
        if chain is None:
            return None
        chain.seats -= 1
        if chain.seats > 0:
            return None
        self.chains.remove(chain)
        return chain
