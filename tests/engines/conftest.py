"""Fixtures of the engine tests: one Firefox ESR and one WebKitGTK per module (see engine_drivers.py).

Every test here is marked ``browser``. An engine that is not installed skips its tests with one loud line at
the end of the run saying what is missing; under CI (``CI`` set) it fails them instead, so a CI run never
passes without having driven both engines.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from .engine_drivers import ARTIFACTS, ENGINE_METRICS, ENGINES, Engine, missing, open_engine, xvfb_display

# lc_frames.py (the frames whose pixels say their number and capture time) lives with the Chromium tests.
_BROWSER_TESTS = str(pathlib.Path(__file__).parent.parent / "browser")
if _BROWSER_TESTS not in sys.path:
    sys.path.insert(0, _BROWSER_TESTS)

HERE = pathlib.Path(__file__).parent
_reasons: set[str] = set()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            # Selenium's own WebKitGTK constructor still uses a RemoteConnection argument it deprecated.
            item.add_marker(
                pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")
            )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    for reason in sorted(_reasons):
        terminalreporter.write_line("!" * 20 + " " + reason + " " + "!" * 20, red=True, bold=True)
    if ENGINE_METRICS:
        terminalreporter.section("livecam engine measurements (Firefox ESR, WebKitGTK)")
        for name, value in sorted(ENGINE_METRICS.items()):
            terminalreporter.write_line(f"{name}: {json.dumps(value)}")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "metrics.json").write_text(json.dumps(ENGINE_METRICS, indent=2))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A fresh browser of one engine for the module; it (and its X display) is stopped afterwards."""
    name = str(request.param)
    reason = missing(name)
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI run: {reason.replace('SKIPPED', 'cannot run')}", pytrace=False)
        _reasons.add(reason)
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp(name)
    with contextlib.ExitStack() as stack:
        display = stack.enter_context(xvfb_display(workdir / "xvfb.log")) if name == "webkit" else None
        browser = open_engine(name, workdir, display)
        stack.callback(browser.close)
        yield browser
