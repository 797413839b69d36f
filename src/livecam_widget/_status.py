"""A stream's state and errors, and what views and ``lf.error`` should show of them; pure.

Two error slots, because they clear differently: a source or ``process`` error is cleared by the next good
frame, a pointer handler's error only by the next handler call that succeeds. Views show one text: the
source/process error first, else the handler's.
"""

from __future__ import annotations

from ._protocol import status


class Status:
    def __init__(self, state: str = "live") -> None:
        self.state = state
        self.error: str | None = None
        self.handler_error: str | None = None

    @property
    def shown_error(self) -> str | None:
        return self.error or self.handler_error

    def message(self) -> str:
        """The ``status`` message views get."""
        return status(self.state, self.shown_error)

    def set_state(self, state: str) -> bool:
        """True when the state changed."""
        if state == self.state:
            return False
        self.state = state
        return True

    def set_error(self, error: str | None) -> bool:
        """True when what is shown changed."""
        before = self.shown_error
        self.error = error
        return self.shown_error != before

    def set_handler_error(self, error: str | None) -> bool:
        before = self.shown_error
        self.handler_error = error
        return self.shown_error != before
