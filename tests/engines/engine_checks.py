"""The checks every engine goes through, on the standalone page and in JupyterLab alike.

Everything is read from the one ``.livecam`` view of the page through the probe (engine_drivers.PROBE): the
frames carry block codes (tests/browser/lc_frames.py) with their number and capture time, so "frames rise"
is the number on the canvas going up, and a frame's age is the page's Date.now() right after reading the
pixels minus its capture time (one machine, one clock). Mouse input is the engine's own (WebDriver) input.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cv2
import pytest

from livecam_widget import read_code

from .engine_drivers import PROBE, VIEWPORT, Engine, artifact_path

MASK = (1 << 24) - 1
CHECK = 0x5A5A5A


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def wait_until(check: Callable[[], Any], timeout: float, what: str, last: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; last seen: {last()!r}")
        time.sleep(0.05)


class View:
    """One live view of the page (the first unless ``select`` picks another), seen through the probe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def install(self) -> None:
        assert self.engine.eval(PROBE) is True

    def select(self, index: int) -> int:
        """Read the page's ``index``-th view from now on; returns how many views the page has."""
        return int(self.engine.eval(f"window.__lcE.select({int(index)})"))

    def read(self) -> dict[str, Any]:
        return dict(self.engine.eval("window.__lcE.read() || {}"))

    def seq(self) -> int | None:
        code = self.read().get("code")
        return int(code["seq"]) if code and code["valid"] else None

    def sample(self, ms: int) -> dict[str, Any]:
        return dict(self.engine.eval(f"window.__lcE.sample({int(ms)})"))

    def errors(self) -> list[str]:
        return list(self.engine.eval("window.__lcE.errors"))

    def mouse_away(self) -> None:
        """The mouse to the viewport's far corner, off the picture (where no hover shows the controls)."""
        self.engine.move(VIEWPORT[0] - 8, VIEWPORT[1] - 8)

    def wait_live(self, timeout: float = 30) -> dict[str, Any]:
        return wait_until(
            lambda: (
                (r := self.read()) and r.get("state") == "live" and r["code"] and r["code"]["valid"] and r
            ),
            timeout,
            f"the {self.engine.name} view to go live with readable frames",
            self.read,
        )


def frames_rise_and_are_fresh(
    view: View, seconds: float, fps: float, made: dict[int, float] | None = None, min_share: float = 0.5
) -> dict[str, Any]:
    """Sample the canvas on every animation frame for ``seconds``; assert that frame numbers rise at about
    the source's rate and are fresh; return the numbers. ``made`` (seq -> time.time() when the producer made
    it), when the producer runs in this process, cross-checks every capture time read from the pixels.
    ``min_share``: the least share of the source's rate that must reach the screen."""
    got = view.sample(round(seconds * 1000))
    first = got["first"]  # [seq, capture ms code, page Date.now(), age ms], each frame once, when first seen
    seqs = [row[0] for row in first]
    assert got["backwards"] == 0 and seqs == sorted(seqs), f"frame numbers went backwards: {got}"
    assert got["state"] == "live", got
    assert len(seqs) >= 2, f"frames did not rise on screen: {got}"
    ages = [float(row[3]) for row in first]
    elapsed = got["elapsed_ms"] / 1000
    result: dict[str, Any] = {
        "frames_seen": len(seqs),
        "seconds": round(elapsed, 2),
        "fps_on_screen": round(len(seqs) / elapsed, 1),
        "painted": got["painted"],
        "canvas_reads": got["reads"],
        "unreadable_reads": got["invalid"],
        "age_ms_p50": percentile(ages, 50),
        "age_ms_p95": percentile(ages, 95),
        "age_ms_max": max(ages),
        "frames_made": seqs[-1] - seqs[0] + 1,
    }
    if made is not None:
        # Every code read from the pixels is the producer's own record of that frame, to the millisecond.
        for seq, ms, _, _ in first:
            assert seq in made, f"frame {seq} on screen was never made"
            assert ms == int(made[seq] * 1000) & MASK, f"frame {seq}: capture time misread from the pixels"
        producer = [now - made[seq] * 1000 for seq, _, now, _ in first]
        result["age_vs_producer_clock_ms_p50"] = round(percentile(producer, 50), 1)
        result["age_vs_producer_clock_ms_p95"] = round(percentile(producer, 95), 1)
    assert len(seqs) >= min_share * elapsed * fps, f"too few frames rose on screen: {result}"
    assert got["invalid"] <= 0.05 * got["reads"], f"unreadable code strips: {result}"
    assert result["age_ms_p50"] < 250 and result["age_ms_p95"] < 600, f"stale frames: {result}"
    return result


def code_in_screenshot(view: View, label: str) -> list[int]:
    """The four code rows read (livecam_widget.read_code) from a screenshot of what the engine composited:
    the pixels on screen, not only the canvas's backing store. Taken once the badge has faded off them."""
    info = wait_until(
        lambda: (r := view.read()) and not r["badge_visible"] and not r["hovered"] and r,
        10,
        "the badge to fade (it sits on the code strip)",
        view.read,
    )
    shot = view.engine.screenshot(artifact_path(view.engine, label))
    image = cv2.imread(str(shot))
    assert image is not None, shot
    box, scale = info["canvas"], float(info["dpr"])
    x0, y0, block = round(box["x"] * scale), round(box["y"] * scale), round(16 * scale)
    rows = [read_code(image, x=x0, y=y0 + r * block, block=block) for r in range(4)]
    assert rows[0] > 0 and rows[0] ^ rows[1] ^ CHECK == rows[3], f"screenshot {shot}: no valid code: {rows}"
    return rows


def _centre(box: dict[str, float]) -> tuple[float, float]:
    return box["x"] + box["w"] / 2, box["y"] + box["h"] / 2


def pause_and_resume_from_hover_controls(view: View, label: str) -> dict[str, Any]:
    """Hover shows the controls; their pause button stops frames rising on screen; a second click resumes."""
    engine = view.engine
    view.mouse_away()
    before = wait_until(
        lambda: (r := view.read()) and not r["hovered"] and r["controls_opacity"] == 0 and r,
        5,
        "the controls hidden while the mouse is away",
        view.read,
    )
    engine.move(*_centre(before["canvas"]))
    hovered = wait_until(
        lambda: (r := view.read())["hovered"] and r["controls_opacity"] == 1 and r,
        5,
        "the controls to show on hover",
        view.read,
    )
    engine.screenshot(artifact_path(engine, f"{label}-hover-controls"))
    button = hovered["pause"]
    assert button and hovered["pause_label"] == "❚❚", hovered
    engine.click(*_centre(button))
    paused = wait_until(
        lambda: (r := view.read())["paused"] and r["state"] == "paused" and r,
        5,
        "the view to pause",
        view.read,
    )
    assert paused["pause_label"] == "▶", paused
    time.sleep(0.3)  # a frame that was already on its way may still land
    held, painted = view.seq(), view.read()["painted"]
    time.sleep(1.5)
    still = view.read()
    assert held is not None and view.seq() == held, f"frames kept rising while paused: {held} -> {still}"
    assert still["painted"] == painted and still["state"] == "paused", still
    engine.screenshot(artifact_path(engine, f"{label}-paused"))

    engine.click(*_centre(button))
    clicked = time.time() * 1000
    wait_until(lambda: (r := view.read())["state"] == "live" and not r["paused"], 5, "resume", view.read)
    got = view.sample(1500)
    first = got["first"]
    assert got["backwards"] == 0 and len(first) >= 10, f"frames did not rise again after resume: {got}"
    assert first[-1][0] > held
    ages = [float(row[3]) for row in first]
    result = {
        "held_frame_while_paused_1_5s": held,
        "frames_seen_1_5s_after_resume": len(first),
        "first_new_frame_after_resume_click_ms": round(next(r[2] for r in first if r[0] > held) - clicked),
        "age_ms_p50_after_resume": percentile(ages, 50),
    }
    assert result["age_ms_p50_after_resume"] < 250, f"stale frames after resume: {result}"
    return result


def _to_frame(info: dict[str, Any], x: float, y: float) -> tuple[float, float]:
    """Viewport CSS px to frame pixels of the picture (it may be shown scaled, aspect kept)."""
    box = info["canvas"]
    return (x - box["x"]) * info["width"] / box["w"], (y - box["y"]) * info["height"] / box["h"]


def click_on_picture(view: View, cx: int, cy: int) -> tuple[float, float]:
    """Click (the engine's mouse) at CSS offset (cx, cy) into the picture; returns the frame pixel that is."""
    info = view.read()
    x, y = round(info["canvas"]["x"]) + cx, round(info["canvas"]["y"]) + cy
    view.engine.click(x, y)
    return _to_frame(info, x, y)


def drag_on_picture(
    view: View, start: tuple[int, int], end: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Press, move, release (CSS offsets into the picture); returns the frame rectangle that is."""
    info = view.read()
    ox, oy = round(info["canvas"]["x"]), round(info["canvas"]["y"])
    engine = view.engine
    engine.move(ox + start[0], oy + start[1])
    engine.down()
    engine.move(ox + (start[0] + end[0]) / 2, oy + (start[1] + end[1]) / 2)
    engine.move(ox + end[0], oy + end[1])
    engine.up()
    return (*_to_frame(info, ox + start[0], oy + start[1]), *_to_frame(info, ox + end[0], oy + end[1]))
