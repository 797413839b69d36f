"""Automatic quality: the ladder, the per-viewer controller (fake clock), shared encodes per level, and a
slow viewer stepping down while a fast one stays at the top."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools

import numpy as np
import pytest
import traitlets

from livecam_widget import LiveFrame
from livecam_widget._door import LoopDoor
from livecam_widget._encoder import Encoder, Look, Settings
from livecam_widget._encodes import adapts
from livecam_widget._origin import OriginPolicy
from livecam_widget._quality import LADDER, QualityController, capped_settings_at, settings_at
from livecam_widget._slot import LatestFrame
from livecam_widget._stream import Stream
from tests.conftest import FakeClock

FAST_TRIP = 0.005  # a frame's trip well within a 30 fps interval


def test_the_ladder_lowers_quality_before_resolution_and_levels_are_clamped() -> None:
    qualities = [step.quality for step in LADDER]
    scales = [step.scale for step in LADDER]
    assert qualities == sorted(qualities, reverse=True) and scales == sorted(scales, reverse=True)
    first_scaled = next(i for i, step in enumerate(LADDER) if step.scale < 1)
    assert LADDER[first_scaled - 1].quality == min(qualities), "resolution goes only once quality is lowest"
    base = Settings(max_size=640, auto_quality=True)
    assert settings_at(base, 0) == Settings(max_size=640, auto_quality=True, quality=85, scale=1.0)
    assert settings_at(base, 99) == settings_at(base, len(LADDER) - 1)
    assert settings_at(base, -3) == settings_at(base, 0)


def test_a_viewer_too_slow_for_its_target_steps_down_once_per_period(clock: FakeClock) -> None:
    q = QualityController(down_after=2.0)
    levels = []
    for _ in range(30):  # 15 s at 10 fps painted against a 30 fps target
        levels.append(q.observe(clock(), 10.0, 30.0, 0.09))
        clock.advance(0.5)
    assert levels[:4] == [0, 0, 0, 0] and levels[4] == 1, levels
    assert levels == sorted(levels) and levels[-1] == len(LADDER) - 1, "bounded by the ladder's end"
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels


def test_it_climbs_back_only_with_headroom(clock: FakeClock) -> None:
    q = QualityController(down_after=2.0, up_after=5.0)
    q.level = 3
    for _ in range(20):  # reaches the target, but each frame's trip takes most of the interval: hold
        assert q.observe(clock(), 30.0, 30.0, 0.030) == 3
        clock.advance(0.5)
    levels = []
    for _ in range(22):  # now with room to spare: one step up per 5 s
        levels.append(q.observe(clock(), 30.0, 30.0, FAST_TRIP))
        clock.advance(0.5)
    assert levels[9] == 3 and levels[10] == 2 and levels[-1] == 1, levels


def test_an_idle_view_or_a_slow_source_never_lowers_quality(clock: FakeClock) -> None:
    q = QualityController()
    for _ in range(20):
        q.observe(clock(), 0.0, 0.0, None)  # hidden or paused: target unknown
        q.observe(clock(), 5.0, 5.0, 0.05)  # the source makes 5 fps and the viewer paints them all
        clock.advance(1.0)
    assert q.level == 0


def test_a_brief_slowdown_resets_and_does_not_step(clock: FakeClock) -> None:
    q = QualityController(down_after=2.0)
    for fps in (10, 10, 30, 10, 10, 30, 10):
        q.observe(clock(), fps, 30.0, 0.02)
        clock.advance(1.0)
    assert q.level == 0


def test_scaled_encodes_say_their_full_size() -> None:
    from livecam_widget._slot import Frame

    frame = Frame(seq=1, data=np.zeros((120, 160, 3), np.uint8), t_capture=0.0)
    full = Encoder().encode(frame, 0, Settings(), None)
    half = Encoder().encode(frame, 0, Settings(scale=0.5), None)
    assert "full_width" not in full.header(0.0)  # type: ignore[union-attr]
    header = half.header(0.0)  # type: ignore[union-attr]
    assert (header["width"], header["height"]) == (80, 60)
    assert (header["full_width"], header["full_height"]) == (160, 120)
    assert (header["source_width"], header["source_height"]) == (160, 120)


def test_viewers_on_one_level_share_an_encode_and_levels_do_not() -> None:
    async def scenario(auto: bool) -> tuple[int, list[int]]:
        slot = LatestFrame()
        stream = Stream(slot, Look(settings=Settings(auto_quality=auto), max_fps=0), OriginPolicy(env=""))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            stream.attach(LoopDoor(), asyncio.get_running_loop(), pool, 0.0)
            slot.put(np.random.default_rng(1).integers(0, 256, (96, 128, 3), np.uint8))
            frame = slot.peek()
            assert frame is not None
            results = await asyncio.gather(*(stream.encoded(frame, level) for level in (2, 2, 5, 5, 2)))
        return stream.cache.encodes, [len(r.data) for r in results]  # type: ignore[union-attr]

    encodes, sizes = asyncio.run(scenario(auto=True))
    assert encodes == 2, "one encode per level in use"
    assert sizes[0] == sizes[1] == sizes[4] and sizes[2] == sizes[3] and sizes[2] < sizes[0]
    # A fixed quality: the levels are the ladder below it (what an adapting comm viewer asks for); viewers
    # that do not adapt ask at level 0 (``adapts``) and share its one encode.
    encodes, sizes = asyncio.run(scenario(auto=False))
    assert encodes == 2 and sizes[2] < sizes[0]


def test_a_fixed_quality_adapts_only_for_viewers_that_adapt_by_themselves_and_never_above_it() -> None:
    fixed = Look(settings=Settings(quality=80), max_fps=0)
    assert not adapts(fixed, False) and adapts(fixed, True)
    assert adapts(Look(settings=Settings(auto_quality=True), max_fps=0), False)
    assert not adapts(Look(settings=Settings(format="png"), max_fps=0), True)  # lossless stays lossless
    base = Settings(quality=80)
    assert capped_settings_at(base, 0) == base
    steps = [(s.quality, s.scale) for s in (capped_settings_at(base, level) for level in range(1, 8))]
    assert steps == [(70, 1.0), (55, 1.0), (40, 1.0), (40, 0.75), (40, 0.5), (40, 0.5), (40, 0.5)]
    low = [capped_settings_at(Settings(quality=30), level) for level in (1, 2)]
    assert [(s.quality, s.scale) for s in low] == [(30, 0.75), (30, 0.5)]  # never above what was set


def test_quality_accepts_auto_or_1_to_100() -> None:
    with LiveFrame(quality="auto") as lf:
        assert lf._session is not None
        settings = lf._session.stream.look.settings
        assert settings.auto_quality and settings.quality == LADDER[0].quality
        lf.quality = 50
        settings = lf._session.stream.look.settings
        assert not settings.auto_quality and settings.quality == 50
        for bad in (0, 101, "best"):
            with pytest.raises(traitlets.TraitError, match="auto"):
                lf.quality = bad
