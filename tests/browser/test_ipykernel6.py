"""The comm transport under ipykernel 6 (no subshells; what Colab and older environments run).

ipykernel 7 can hand comm messages to a subshell's thread; ipykernel 6 handles them on the main thread
only, between cells. Here a kernel runs ipykernel 6.17.1 (installed with pip into a venv of its own that
otherwise sees this environment's packages, so it runs this livecam_widget), in JupyterLab, in Chromium:
a comm view streams (read from the canvas pixels), the kernel reports that comm requests arrive on its main
thread, and a busy cell holds the view still (never a backlog), after which it shows the newest frames.
"""

from __future__ import annotations

import json
import pathlib
import site
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from livecam_e2e import METRICS, JupyterServer, ages_ms, running_server, wait_for

pytestmark = pytest.mark.browser

IPYKERNEL = "6.17.1"
CELLS = [
    "import ipykernel\nprint('ipykernel', ipykernel.__version__)\n"
    "from lc_frames import *\nlf = LiveFrame(Counter(), fps=30, transport='comm')\nlf",
    "import time\nprint('busy', flush=True)\ntime.sleep(6)",
    "print('handled on:', lf.stats.get('comm_requests_on'))",
]


def kernel_env(base: pathlib.Path) -> pathlib.Path:
    """A venv with ipykernel 6 of its own that sees this environment's other packages; its python."""
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(base)], check=True, timeout=120)
    python = base / "bin" / "python"
    own = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    # Appended after its own site-packages: its ipykernel comes first, the rest (ours included) from here.
    (pathlib.Path(own) / "zz_livecam_tests.pth").write_text(
        f"import site; site.addsitedir({site.getsitepackages()[0]!r})\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            own,
            f"ipykernel=={IPYKERNEL}",
        ],
        check=True,
        timeout=300,
    )
    return python


@pytest.fixture(scope="module")
def lab6(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    base = tmp_path_factory.mktemp("lab-ipykernel6")
    python = kernel_env(base / "kernel-venv")
    spec = base / "lab" / "jupyter" / "data" / "kernels" / "ipykernel6"
    spec.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "ipykernel 6", "language": "python"})
    )
    with running_server("lab", base / "lab") as server:
        yield server


def test_the_comm_transport_under_ipykernel_6(lab6: JupyterServer, browser) -> None:
    lab6.add_notebook("ipykernel6.ipynb", list(CELLS), kernel="ipykernel6")
    page = browser
    try:
        page.open_in(lab6, "ipykernel6.ipynb")
        page.run(0)
        assert f"ipykernel {IPYKERNEL}" in page.text(0), page.text(0)
        page.wait_advancing(0, steps=10)
        view = page.view(0)
        assert view is not None and view.transport == "comm" and view.state == "live", view
        ages = ages_ms(page, 3.0)
        ticket = page.run(1, wait=False)
        wait_for(lambda: "busy" in page.text(1), 60, "the busy cell to start")
        time.sleep(1.0)
        during = set()
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            view = page.view(0)
            if view is not None and view.seq is not None:
                during.add(view.seq)
            time.sleep(0.1)
        assert not page.run_done(ticket), "the cell ended before the sampling did: the machine is too slow"
        page.wait_run(ticket)
        after = page.wait_advancing(0, steps=5)
        page.run(2)
        handled = page.text(2).split("handled on:")[-1].strip()
        METRICS["ipykernel6_comm"] = {
            "age_ms_p50": ages[len(ages) // 2] if ages else None,
            "frames_during_3s_of_busy_cell": len(during),
            "requests_handled_on": handled,
        }
        assert handled == "main thread", handled  # no subshells in ipykernel 6
        assert len(during) <= 3, f"the view kept streaming through a busy cell: {sorted(during)}"
        assert after[-1] > max(during) + 60, "after the cell it shows the newest frames, not a backlog"
    finally:
        lab6.shutdown_kernels()
