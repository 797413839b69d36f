"""How much an MJPEG reader has not read yet, told by the TCP window it advertises; pure.

MJPEG has no way for a viewer to ask for the next frame. Waiting for TCP to acknowledge each part keeps the
server's own buffer empty, but a reader slower than the stream (``cv2.VideoCapture(url).read()`` called twice
a second) lets parts pile up in its *receive* buffer, megabytes on Linux, and sees frames seconds old.

The reader's kernel tells us how much room is left: every ACK carries its receive window, which shrinks by
what arrives and grows by what the application reads. The largest window seen is the room when nothing is
waiting; the difference is the backlog. A new part goes out only once the backlog is under a quarter of a
part, so a slow reader holds about one part: the newest frame there was when it finished the previous one.

Two things hide the backlog, and the driver works around both:

- a receiver does not announce every window it opens, only large jumps, so after the last part the driver
  sends a two-byte probe (``\\r\\n``, which multipart parsers skip between parts) now and then: its ACK
  carries the window as it is now;
- early in a connection the window grows with the data that arrives, so the "empty" size can be learned
  while a part is still unread, and that part would stay queued for good; so the first time a reader proves
  slower than the stream, the driver holds one part back for up to two of its periods to see whether the
  window opens further.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A part may go when at most this share of a part is still unread.
UNREAD_SHARE = 4
#: Probe intervals while waiting for a reader: quick at first, then backing off for one that stopped.
FIRST_PROBE_S = 0.02
MAX_PROBE_S = 0.1


@dataclass
class ReaderBacklog:
    """The state of one reader's receive window, fed with the windows seen after each part and probe."""

    #: The largest window seen: the room with nothing waiting.
    empty: int = 0
    #: Parts in a row after which the driver had to wait for the reader.
    waits_in_a_row: int = 0
    #: The one-time check that ``empty`` was not learned with a part still queued.
    checked: bool = False

    def see(self, window: int) -> None:
        self.empty = max(self.empty, window)

    def unread(self, window: int) -> int:
        return max(0, self.empty - window)

    def may_send(self, window: int, part: int) -> bool:
        """Has the reader read (nearly) everything it was sent?"""
        self.see(window)
        return self.unread(window) <= part // UNREAD_SHARE

    def after_wait(self, waited: bool) -> bool:
        """Note whether the driver had to wait after this part; True when it should hold the next part
        back once, to check the "empty" size (see the module docstring)."""
        self.waits_in_a_row = self.waits_in_a_row + 1 if waited else 0
        if self.waits_in_a_row >= 2 and not self.checked:
            self.checked = True
            return True
        return False

    def opened_further(self, window: int, part: int) -> bool:
        """During the check: the window opened beyond what we called empty, so a part had been queued."""
        if window > self.empty + part // UNREAD_SHARE:
            self.empty = window
            return True
        return False


def next_probe_s(previous: float) -> float:
    return min(MAX_PROBE_S, previous * 1.5)
