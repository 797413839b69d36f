"""Fixtures and hooks of the browser tests; the machinery is in livecam_e2e.py (see its docstring).

Every test here is marked ``browser``. Without Debian's Chromium (or the Python packages the tests drive)
they are all skipped, and one loud line at the end of the run says why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest

# The helpers sit next to this file; make them importable whatever pytest's --import-mode.
if str(pathlib.Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(pathlib.Path(__file__).parent))

from livecam_e2e import (
    ARTIFACTS,
    CHROMIUM,
    HERE,
    METRICS,
    JupyterServer,
    Page,
    chromium_page,
    maybe_keep_artifacts,
    running_server,
)

NEEDED_MODULES = ("playwright", "jupyterlab", "notebook", "voila", "nbformat")
_skip_key = pytest.StashKey[str]()


def _skip_reason() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (
            f"BROWSER TESTS SKIPPED: {CHROMIUM} not found; install Debian's Chromium "
            "(apt-get install chromium) to run them (never `playwright install`)"
        )
    missing = [name for name in NEEDED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        names = ", ".join(missing)
        return f"BROWSER TESTS SKIPPED: Python packages missing: {names} (pip install -e '.[browser]')"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in pathlib.Path(str(item.fspath)).parents]
    reason = _skip_reason() if ours else None
    for item in ours:
        item.add_marker(pytest.mark.browser)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    if reason:
        config.stash[_skip_key] = reason


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    reason = config.stash.get(_skip_key, None)
    if reason:
        terminalreporter.write_line("!" * 20 + " " + reason + " " + "!" * 20, red=True, bold=True)
    if METRICS:
        terminalreporter.section("livecam browser measurements")
        for name, value in METRICS.items():
            terminalreporter.write_line(f"{name}: {json.dumps(value)}")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "metrics.json").write_text(json.dumps(METRICS, indent=2))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One JupyterLab 4 server per test module (kernels are shut down after each test)."""
    with running_server("lab", tmp_path_factory.mktemp("lab")) as server:
        yield server


# -- the browser ---------------------------------------------------------------------------------------------
@pytest.fixture
def browser(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Page]:
    """A fresh Chromium (own profile dir) and page; on failure, a screenshot and the console are kept."""
    with chromium_page(request, tmp_path / "chromium-profile", {"width": 1280, "height": 1600}) as driver:
        yield driver


@pytest.fixture
def nb(
    request: pytest.FixtureRequest, lab: JupyterServer, browser: Page
) -> Iterator[tuple[JupyterServer, Page]]:
    """The module's Lab server and a fresh browser; this test's kernels are shut down afterwards."""
    try:
        yield lab, browser
    finally:
        maybe_keep_artifacts(request, browser)  # before the kernels go, and their views with them
        lab.shutdown_kernels()
