"""format="h264" in a real browser: Debian's Chromium decodes the kernel's H.264 with WebCodecs and paints it.

The standalone page of an in-process widget (the same view as in Jupyter, without a Jupyter server): the
pictures are read back from the canvas (lc_frames' block codes), so "decoded and painted" means the frames'
own numbers on screen. Where WebCodecs is missing (a plain-http page on a host other than localhost is no
secure context) the view gets JPEG and says why; a decode error costs one keyframe; a view throttled 6x
stays fresh.
"""

from __future__ import annotations

import contextlib
import json
import pathlib

import pytest
from lc_frames import Counter, LiveFrame
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


def test_h264_is_decoded_and_painted_survives_a_decode_error_and_stays_fresh_throttled(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    with LiveFrame(Counter(), fps=60, format="h264", max_fps=60) as lf, chromium(request, tmp_path) as page:
        page.page.context.add_init_script(BREAK_ONE_CHUNK)
        page.goto(lf.page_url)
        seqs = page.wait_advancing(None, steps=10, timeout=60)
        assert seqs == sorted(seqs)
        wait_for(lambda: codecs(lf) == ["h264"], 15, "the view to get H.264")
        view = page.view(None)
        assert view is not None and view.valid and (view.width, view.height) == (480, 240)
        # The 20th chunk failed: the view asked for a keyframe and went on (no withdrawal, still video).
        assert page.page.evaluate("() => window.__lcBroken") == 1
        page.wait_advancing(None, steps=10, timeout=30)
        assert codecs(lf) == ["h264"], "a single decode error must not give video up"
        text = overlay(page)
        assert "· h264" in text and "h264 off" not in text, text
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
