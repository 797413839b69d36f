"""The encode cache: each frame is encoded once per look, whoever and however many ask.

Loop-owned (the server's loop thread calls it; the encoding itself runs on the encode pool). Viewers on the
same automatic-quality level share one encode; with fixed quality every viewer is on level 0. An encode
that one viewer stops waiting for is not cancelled, because others may be waiting for it too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable

from ._encoder import VIDEO_FORMATS, Encoded, Encoder, Failure, Look, Settings
from ._h264 import image_settings
from ._quality import capped_settings_at, settings_at
from ._slot import Frame, LatestFrame

#: An encode: (seq, rev) and the automatic-quality level it was made for (always 0 without "auto").
EncodeKey = tuple[int, int, int]


def adapts(look: Look, adaptive_viewer: bool) -> bool:
    """Whether a viewer's automatic-quality level applies to what it gets: for every viewer under
    quality="auto" or a video format, and for a viewer that adapts by itself (the comm transport) unless the
    format is PNG (asked for lossless, so never made smaller behind the user's back)."""
    fmt = look.settings.format
    # A video format is the choice for a limited link: its viewers adapt (and format="auto" moves a viewer
    # to video when its level drops, ViewerCore.video_if_slow).
    return look.settings.auto_quality or fmt in VIDEO_FORMATS or (adaptive_viewer and fmt != "png")


def settings_for(look: Look, level: int) -> Settings:
    """The settings at an automatic-quality level: the ladder under quality="auto", else the ladder below
    the fixed quality (level 0 is the look's own settings). Images only: under a video format, JPEG."""
    settings = image_settings(look.settings)
    if settings.auto_quality:
        return settings_at(settings, level)
    return capped_settings_at(settings, level)


class EncodeCache:
    def __init__(self, slot: LatestFrame, on_result: Callable[[Encoded | Failure], None]) -> None:
        self.slot = slot
        self.encoder = Encoder()
        #: Successful encodes so far (a stat, and what tests count to prove "once per frame").
        self.encodes = 0
        self.last: Encoded | None = None
        self._on_result = on_result
        #: The newest encode per quality level.
        self._newest: dict[int, Encoded | Failure] = {}
        self._inflight: dict[EncodeKey, asyncio.Future[Encoded | Failure]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: concurrent.futures.Executor | None = None

    def attach(self, loop: asyncio.AbstractEventLoop, executor: concurrent.futures.Executor) -> None:
        self._loop = loop
        self._executor = executor

    async def encoded(self, frame: Frame, look: Look, level: int = 0) -> Encoded | Failure:
        """``frame`` processed and encoded with ``look``, once per level whoever asks (a viewer whose level
        does not apply asks for level 0: see ``adapts``)."""
        assert self._loop is not None, "EncodeCache.attach() first"
        key = (frame.seq, look.rev, level)
        newest = self._newest.get(level)
        if newest is not None and (newest.seq, newest.rev) == key[:2]:
            return newest
        future = self._inflight.get(key)
        if future is None:
            self.slot.take(frame.seq)
            future = self._loop.run_in_executor(
                self._executor,
                self.encoder.encode,
                frame,
                look.rev,
                settings_for(look, level),
                look.process,
            )
            self._inflight[key] = future
            future.add_done_callback(functools.partial(self._done, key))
        # shield: one viewer giving up must not cancel the encode the others wait for.
        return await asyncio.shield(future)

    def _done(self, key: EncodeKey, future: asyncio.Future[Encoded | Failure]) -> None:
        self._inflight.pop(key, None)
        if future.cancelled() or future.exception() is not None:
            return
        result = future.result()
        newest = self._newest.get(key[2])
        if newest is None or (newest.seq, newest.rev) <= key[:2]:
            self._newest[key[2]] = result
        if isinstance(result, Encoded):
            self.encodes += 1
            self.last = result
        self._on_result(result)
