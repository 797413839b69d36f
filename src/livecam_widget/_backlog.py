"""How much an MJPEG reader has not read yet, told by the TCP window it advertises; pure.

MJPEG has no way for a viewer to ask for the next frame. Waiting for TCP to acknowledge each part keeps the
server's own buffer empty, but a reader slower than the stream (``cv2.VideoCapture(url).read()`` called twice
a second) lets parts pile up in its *receive* buffer, megabytes on Linux, and sees frames seconds old.

The reader's kernel tells us how much room is left: every ACK carries its receive window, which shrinks by
what arrives and grows by what the application reads. So the driver keeps books: ``unread``, the bytes sent
that the reader may not have read, and ``empty``, the window it would advertise with nothing waiting
(``empty - unread`` is the window expected). A window above that is explained by reads, up to ``unread``. A
new part goes out only once at most a quarter of a part is unread, so a slow reader holds about one part:
the newest frame there was when it finished the previous one.

Two things blur the window, and the books allow for both:

- a receiver does not announce every window it opens, only large jumps, so after a part the driver sends a
  two-byte probe (``\\r\\n``, which multipart parsers skip between parts) now and then: its ACK carries the
  window as it is now;
- Linux grows a connection's window as data *arrives* (receive-buffer autotuning), by up to two segments a
  packet (128 KiB a packet on loopback) and up to megabytes, whether or not the reader reads. A rise larger
  than everything unread cannot be reads alone, so it is taken as growth with nothing read: the books keep
  ``unread`` and move ``empty``. Taking such a rise as "all read" (this module's first version did) let a
  slow reader's buffer fill with dozens of parts while the window grew, seconds of delay that never drained.
  The cost of the cautious reading is doubt. Probes do not grow the window, so a read during doubt usually
  shows at the next probe; a reader whose read was folded into the same ACK as the growth is not seen to,
  so doubt ends after ``hold_s()`` (one and a half of the reader's periods, within bounds; the lower bound
  until a first read was seen), and then its books are taken as read.

How long the growth lasts is the size of the risk: parts sent in doubt may pile up unread. Linux grows the
window per arriving *packet* (by up to two full segments each, 128 KiB on loopback), not per byte, so a
reader of small parts (a 5 KB picture, one packet) took a dozen parts to reach its ceiling of a megabyte or
two, and a reader at two parts a second fell six seconds behind. While the window grows the driver writes
each part in ``PIECE``-byte packets, so the window reaches its ceiling within a part or two; once a part
sees no growth, parts go out whole again.

The window moves in steps of one segment, so parts smaller than a segment are paced less finely: up to a
segment of them may wait unread (on loopback, where a segment is 64 KiB, about a dozen 5 KB parts; over a
network with 1.4 KiB segments, one).
"""

from __future__ import annotations

from dataclasses import dataclass

#: While the reader's window grows, parts are written in packets of this size (each grows it; see above).
#: Smaller packets grow it less each: Linux grows by less when a packet's memory is large for its payload.
PIECE = 1024
#: A part may go when at most this share of a part is still unread.
UNREAD_SHARE = 4
#: Probe intervals while waiting for a reader: quick at first, then backing off for one that stopped.
FIRST_PROBE_S = 0.02
MAX_PROBE_S = 0.1
#: Bounds on how long doubt lasts: a fast reader barely waits, a stopped one is not waited for forever.
MIN_HOLD_S = 0.05
MAX_HOLD_S = 1.0


@dataclass
class ReaderBacklog:
    """One reader's books, fed with the window seen after each part and each probe (and what was sent)."""

    #: The window with nothing waiting (grows as the receiver grows its buffer).
    empty: int = 0
    #: Bytes sent that the reader may not have read yet.
    unread: int = 0
    #: Since when a window rise that reads alone cannot explain has left ``unread`` unknown (None: known).
    doubt_since: float | None = None
    #: How long the reader last took to read a part, from the part's send to the window showing it read
    #: (None until a read was seen).
    period: float | None = None
    #: The smallest read the window shows: the reader's segment size (64 KiB on loopback, ~1.4 KiB on
    #: Ethernet). Linux moves an advertised window only in steps of a segment (silly-window avoidance), so
    #: less unread than this may all have been read: a part may go (else small parts would wait forever).
    resolution: int = 0
    #: The window grew by more than reads could explain since the last part went out (at first: unknown,
    #: so assumed). While it grows, the driver writes parts in small pieces: see ``PIECE``.
    growing: bool = True
    _part_at: float | None = None
    _part_size: int = 0
    _started: bool = False

    def see(self, window: int, sent: int, now: float, *, part: bool = False) -> None:
        """After ``sent`` more bytes (a part when ``part``, else a probe) the window is ``window``."""
        self.unread += sent
        if part:
            self._part_at, self._part_size, self.growing = now, sent, False
        if not self._started:  # nothing known yet: the first part may still be waiting
            self._started = True
            self.empty, self.doubt_since = window + self.unread, now
            return
        rise = window - (self.empty - self.unread)
        if 0 < rise <= self.unread:  # the reader read this much
            self.unread -= rise
            if self._part_at is not None and self.may_send(self._part_size):
                self.period, self._part_at = now - self._part_at, None
        elif rise != 0:
            # More than could have been read: the receiver grew its window (or, below zero, shrank it).
            # How much was read is unknown, so nothing is taken as read.
            self.empty = window + self.unread
            if rise > 0:
                self.growing = True
                if self.unread and self.doubt_since is None:
                    self.doubt_since = now
        if self.doubt_since is not None and (
            self.may_send(self._part_size) or now - self.doubt_since >= self.hold_s()
        ):
            self.unread, self.empty, self.doubt_since = 0, window, None  # doubt over: all taken as read

    def hold_s(self) -> float:
        """How long doubt lasts: 1.5 of the reader's periods within bounds; the shortest until a read was
        seen. (The longest there cut a fast reader, cv2.VideoCapture's, to a few parts a second while its
        window grew: its reads hide in the growth, so no period is ever measured then.)"""
        if self.period is None:
            return MIN_HOLD_S
        return min(MAX_HOLD_S, max(MIN_HOLD_S, 1.5 * self.period))

    def may_send(self, part: int) -> bool:
        """Has the reader read (nearly) everything it was sent?"""
        return self.unread <= max(part // UNREAD_SHARE, self.resolution)


def next_probe_s(previous: float) -> float:
    return min(MAX_PROBE_S, previous * 1.5)
