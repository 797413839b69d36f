"""Build hook: ship the frontend in the wheel.

The frontend lives in ``js/`` as several plain ES modules (pure logic tested with ``node --test``, the DOM
layer, anywidget's entry point ``widget.js``). anywidget loads one module, so the build composes them into
``livecam_widget/static/widget.js`` with the same function the package uses at run time in a source
checkout (``livecam_widget._frontend.compose``), next to ``static/widget.css``. No bundler, no npm at install
time.

The long description (PyPI's project page) is the README with its repository-relative links rewritten:
PyPI resolves neither a link to ``docs/...`` nor one to a heading (``#...``), so those become plain text
naming the file (shipped in the sdist) or the section.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).parent
#: ``[text](target)`` and ``![alt](target)``, with a target that is neither absolute nor mail.
_RELATIVE_LINK = re.compile(r"(!?)\[([^\]]*)\]\((?!https?://|mailto:)([^)\s]+)\)")


def description_for_index(readme: str) -> str:
    """The README as PyPI shows it: no link or image that PyPI cannot resolve."""
    files: list[str] = []

    def plain(match: re.Match[str]) -> str:
        image, text, target = match.groups()
        if target.startswith("#"):
            return text if text.startswith("`") else f"{text} (a section of this page)"
        files.append(target)
        if image:
            return f"*(Picture: {text}, `{target}`.)*"
        return f"`{target}`" if text == target else f"{text} (`{target}`)"

    text = _RELATIVE_LINK.sub(plain, readme)
    if files:
        text += "\n\n---\n\nThe files this page names ship in the source distribution (the `.tar.gz`).\n"
    return text


class BuildWithFrontend(build_py):
    def run(self) -> None:
        super().run()
        static = pathlib.Path(self.build_lib) / "livecam_widget" / "static"
        js = ROOT / "js"
        if not (js / "widget.js").is_file():
            # An sdist has no js/; it carries the composed files as package data (copied by super().run()).
            if (static / "widget.js").is_file() and (static / "widget.css").is_file():
                return
            raise RuntimeError(f"no frontend to build: no {js}/widget.js and no composed {static}/widget.js")
        # Loaded by path: the package itself imports anywidget, which need not be installed at build time.
        spec = importlib.util.spec_from_file_location("_frontend", ROOT / "src/livecam_widget/_frontend.py")
        assert spec and spec.loader
        frontend = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(frontend)
        static.mkdir(parents=True, exist_ok=True)
        (static / "widget.js").write_text(frontend.compose(js), encoding="utf-8")
        (static / "widget.css").write_text((js / "widget.css").read_text(encoding="utf-8"), encoding="utf-8")


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import it for the function above
    setup(
        cmdclass={"build_py": BuildWithFrontend},
        # Enables livecam_widget._serverext in the Jupyter server of the environment it is installed in.
        data_files=[
            (
                "etc/jupyter/jupyter_server_config.d",
                ["jupyter-config/jupyter_server_config.d/livecam_widget.json"],
            )
        ],
        long_description=description_for_index((ROOT / "README.md").read_text(encoding="utf-8")),
        long_description_content_type="text/markdown",
    )
