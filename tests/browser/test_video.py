"""format="h264" in a real browser: Debian's Chromium decodes the kernel's H.264 with WebCodecs and paints it.

The standalone page of an in-process widget (the same view as in Jupyter, without a Jupyter server): the
pictures are read back from the canvas (lc_frames' block codes), so "decoded and painted" means the frames'
own numbers on screen. Chromium's decoder takes High 4:4:4, so the view offers it and gets it; a decoder
that claims 4:4:4 and then fails on it costs the view its 4:4:4, not its video. Where WebCodecs is missing (a
plain-http page on a host other than localhost is no secure context) the view gets JPEG and says why; a
decode error costs one keyframe; a view throttled 6x stays fresh.
"""

from __future__ import annotations

import contextlib
import json
import pathlib

import numpy as np
import pytest
from lc_frames import PATCHES, READ_PATCHES, Counter, H, LiveFrame, W, patch_error, with_patches
from livecam_e2e import METRICS, Page, chromium_page, median, percentile, wait_for

pytestmark = pytest.mark.browser


def chromium(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path, extra: list[str] | None = None
) -> contextlib.AbstractContextManager[Page]:
    return chromium_page(request, tmp_path / "profile", {"width": 1000, "height": 700}, extra)


def codecs(lf: LiveFrame) -> list[str | None]:
    return [viewer.get("codec") for viewer in lf.stats.get("viewers") or []]


def overlay(page: Page) -> str:
    """The view's stats overlay (toggled on with its "i" key), as shown."""
    root = page.page.locator(".livecam").first
    if "livecam-with-overlay" not in (root.get_attribute("class") or ""):
        root.focus()
        page.page.keyboard.press("i")
    text: str = page.page.locator(".livecam-overlay").first.inner_text()
    return text


#: Wraps WebCodecs' VideoDecoder so that the 20th chunk a page decodes fails as a corrupt stream does.
BREAK_ONE_CHUNK = """
(() => {
  const Real = window.VideoDecoder;
  let chunks = 0;
  window.__lcBroken = 0;
  window.VideoDecoder = class extends Real {
    decode(chunk) {
      if (++chunks === 20) {
        window.__lcBroken++;
        throw new DOMException('corrupt test chunk', 'EncodingError');
      }
      return super.decode(chunk);
    }
  };
})();
"""


#: Wraps WebCodecs' VideoDecoder so that it refuses to be configured for High 4:4:4 (profile 244), as a
#: decoder would that said yes to the probe and cannot decode the stream.
FAIL_ON_444 = """
(() => {
  const Real = window.VideoDecoder;
  window.__lcRefused = 0;
  window.VideoDecoder = class extends Real {
    configure(config) {
      if (/^avc1\\.f4/i.test(config.codec)) {
        window.__lcRefused++;
        throw new DOMException('no 4:4:4 here (test)', 'NotSupportedError');
      }
      return super.configure(config);
    }
  };
})();
"""


#: Makes the page's VideoDecoder say no to High 4:4:4, as Firefox's does: the view offers 4:2:0 only.
NO_444 = """
(() => {
  const Real = window.VideoDecoder;
  const asks = Real.isConfigSupported.bind(Real);
  Real.isConfigSupported = async (config) =>
    /^avc1\\.f4/i.test(config.codec) ? { supported: false } : asks(config);
})();
"""

def last_codec(lf: LiveFrame) -> str:
    """The codec string of the newest video frame the widget encoded ("" before any)."""
    last = lf._session.stream.video.last
    return last.codec if last is not None else ""


def test_h264_is_decoded_and_painted_survives_a_decode_error_and_stays_fresh_throttled(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    with LiveFrame(Counter(), fps=60, format="h264", max_fps=60) as lf, chromium(request, tmp_path) as page:
        page.page.context.add_init_script(BREAK_ONE_CHUNK)
        page.goto(lf.page_url)
        seqs = page.wait_advancing(None, steps=10, timeout=60)
        assert seqs == sorted(seqs)
        wait_for(lambda: codecs(lf) == ["h264"], 15, "the view to get H.264")
        assert last_codec(lf).startswith("avc1.f4"), "Chromium's decoder takes High 4:4:4: the view offers it"
        view = page.view(None)
        assert view is not None and view.valid and (view.width, view.height) == (480, 240)
        # The 20th chunk failed: the view asked for a keyframe and went on (no withdrawal, still video).
        assert page.page.evaluate("() => window.__lcBroken") == 1
        page.wait_advancing(None, steps=10, timeout=30)
        assert codecs(lf) == ["h264"], "a single decode error must not give video up"
        text = overlay(page)
        assert "· h264 4:4:4" in text and "h264 off" not in text, text
        assert lf.stats["video"]["encodes"] > 0

        cdp = page.page.context.new_cdp_session(page.page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 6})
        try:
            samples = []
            for _ in range(100):  # 10 s
                sample = page.view(None)
                if sample is not None and sample.valid:
                    samples.append((sample.seq, sample.age_ms))
                page.page.wait_for_timeout(100)
        finally:
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        ages = [age for _, age in samples if age is not None]
        quarter = max(1, len(ages) // 4)
        result = {
            "samples": len(ages),
            "age_ms": {"p50": median(ages), "p95": percentile(ages, 95)},
            "median_first_quarter": median(ages[:quarter]),
            "median_last_quarter": median(ages[-quarter:]),
            "distinct_frames": len({seq for seq, _ in samples}),
        }
        METRICS["h264_cpu_throttle_6x_10s"] = result
        print("\nh264 under 6x CPU throttle:", json.dumps(result))
        assert len(ages) >= 50, result
        assert [seq for seq, _ in samples] == sorted(seq for seq, _ in samples), "frames went backwards"
        assert result["distinct_frames"] >= 10, result
        assert percentile(ages, 95) < 1500, result
        assert result["median_last_quarter"] - result["median_first_quarter"] < 500, f"age drifts: {result}"
        assert codecs(lf) == ["h264"]


def test_a_decoder_that_fails_on_444_falls_back_to_420_and_stays_on_video(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    with LiveFrame(Counter(), fps=30, format="h264") as lf, chromium(request, tmp_path) as page:
        page.page.context.add_init_script(FAIL_ON_444)
        page.goto(lf.page_url)
        page.wait_advancing(None, steps=10, timeout=60)
        wait_for(lambda: last_codec(lf).startswith("avc1.42"), 15, "the view to narrow its offer to 4:2:0")
        assert page.page.evaluate("() => window.__lcRefused") == 3, "three keyframes failed, then 4:2:0"
        seqs = page.wait_advancing(None, steps=10, timeout=30)
        assert seqs == sorted(seqs)
        assert codecs(lf) == ["h264"], "giving up 4:4:4 is not giving up video"
        text = overlay(page)
        assert "· h264" in text and "4:4:4" not in text and "h264 off" not in text, text
        assert page.page.evaluate("() => window.__lcRefused") == 3


@pytest.mark.parametrize("chroma", ["444", "420"])
def test_video_paints_the_colours_sent(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path, chroma: str
) -> None:
    """The stream says BT.601 (its VUI): a decoder told nothing took it for BT.709 and painted pure green as
    (0, 215, 1). Each patch's centre must come back within 4 levels, at 4:4:4 and at 4:2:0."""
    image = with_patches(np.zeros((H, W, 3), np.uint8))
    with LiveFrame(format="h264", max_fps=30) as lf, chromium(request, tmp_path) as page:
        if chroma == "420":
            page.page.context.add_init_script(NO_444)
        page.goto(lf.page_url)

        def painted() -> list[list[int]] | None:
            lf.update(image)
            if not last_codec(lf) or codecs(lf) != ["h264"]:  # the view's first frames may be JPEG
                return None
            read: list[list[int]] = page.page.evaluate(READ_PATCHES)
            white = PATCHES.index((255, 255, 255))
            return read if min(read[white]) > 250 else None  # a frame is on screen

        wait_for(painted, 30, "the patches on screen")
        page.page.wait_for_timeout(300)  # a few more frames: the picture settles after the keyframe
        lf.update(image)
        page.page.wait_for_timeout(300)
        got = page.page.evaluate(READ_PATCHES)
        assert last_codec(lf).startswith("avc1.f4" if chroma == "444" else "avc1.42"), last_codec(lf)
        assert patch_error(got) <= 4, f"painted {got}, sent {PATCHES} (BGR)"


def test_without_a_secure_context_the_view_gets_jpeg_and_says_why(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    rules = ["--host-resolver-rules=MAP video.test 127.0.0.1"]  # for this browser only
    with (
        LiveFrame(Counter(), fps=30, format="h264", allowed_origins=["http://video.test:*"]) as lf,
        chromium(request, tmp_path, rules) as page,
    ):
        page.goto(lf.page_url.replace("127.0.0.1", "video.test"))
        page.wait_advancing(None, steps=5, timeout=60)
        assert page.page.evaluate("() => isSecureContext") is False
        wait_for(lambda: codecs(lf) == ["jpeg"], 15, "the view to get JPEG")
        reason = "h264 off: page not secure (http, not localhost)"
        wait_for(lambda: reason in overlay(page), 10, "the overlay's reason")
        assert "jpeg" in overlay(page)


@pytest.mark.parametrize("transport", ["comm", "proxy"])
def test_h264_through_the_jupyter_server_in_jupyterlab(nb, transport: str) -> None:  # type: ignore[no-untyped-def]
    """The frames cross the Jupyter server (as comm messages, or through jupyter-server-proxy, two in
    flight); the view decodes them as on its own socket."""
    lab, page = nb
    cells = [
        "from lc_frames import *\nimport json\n"
        f"lf = LiveFrame(Counter(), fps=30, format='h264', transport={transport!r})\nlf",
        "print(json.dumps([v.get('codec') for v in lf.stats.get('viewers') or []]))",
    ]
    page.open_in(lab, lab.add_notebook(f"video_{transport}.ipynb", cells))
    page.run(0)
    seqs = page.wait_advancing(0, steps=10, timeout=60)
    assert seqs == sorted(seqs)
    view = page.view(0)
    assert view is not None and view.transport == transport and view.valid

    def codecs_in_kernel() -> list[str | None]:
        page.run(1)
        return json.loads(page.text(1).strip().splitlines()[-1])  # type: ignore[no-any-return]

    wait_for(lambda: codecs_in_kernel() == ["h264"], 30, f"the {transport} view to get H.264")
    page.wait_advancing(0, steps=5, timeout=30)
