"""Smoke test of an installed livecam-widget (run by ``scripts/dev.sh test`` in a fresh venv holding only
the wheel): a real server on 127.0.0.1 serves a test-pattern frame to the reference client, and the
frontend module the wheel ships is the one the widget loads."""

from __future__ import annotations

import pathlib
import sys

import livecam_widget
from livecam_widget import LiveFrame, read_code
from livecam_widget.client import fetch

package = pathlib.Path(livecam_widget.__file__).parent
assert "site-packages" in str(package), f"not the installed package: {package}"
esm = package / "static" / "widget.js"
assert "export default { initialize, render }" in esm.read_text(encoding="utf-8"), "frontend missing"
with LiveFrame("testpattern:320x240", fps=30) as lf:
    frames = fetch(lf.url, 3, timeout=10)
    image = frames[-1].decode()
    assert image.shape == (240, 320, 3), image.shape
    assert frames[-1].seq > frames[0].seq
    code = read_code(image, 24, block=10)
seqs = [f.seq for f in frames]
version, python = livecam_widget.__version__, sys.version.split()[0]
print(f"smoke: livecam-widget {version} from {package} served frames {seqs} (code {code}), Python {python}")
