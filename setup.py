"""Build hook: ship the frontend in the wheel.

The frontend lives in ``js/`` as two ES modules (``pull.js``: pure pacing logic, tested with ``node --test``;
``widget.js``: the DOM layer). anywidget loads one module, so the build composes them into
``livecam_widget/static/widget.js`` with the same function the package uses at run time in a source
checkout (``livecam_widget._frontend.compose``). No bundler, no npm at install time.
"""

from __future__ import annotations

import importlib.util
import pathlib

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).parent


class BuildWithFrontend(build_py):
    def run(self) -> None:
        super().run()
        spec = importlib.util.spec_from_file_location("_frontend", ROOT / "src/livecam_widget/_frontend.py")
        assert spec and spec.loader
        frontend = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(frontend)
        static = pathlib.Path(self.build_lib) / "livecam_widget" / "static"
        static.mkdir(parents=True, exist_ok=True)
        (static / "widget.js").write_text(frontend.compose(ROOT / "js"), encoding="utf-8")
        (static / "widget.css").write_text((ROOT / "js/widget.css").read_text(encoding="utf-8"), encoding="utf-8")


setup(cmdclass={"build_py": BuildWithFrontend})
