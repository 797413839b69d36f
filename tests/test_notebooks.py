"""Every notebook in notebooks/ runs top to bottom, headless, within its time budget, without an error.

The kernel is this interpreter (a kernelspec written to a private JUPYTER_DATA_DIR, and checked from inside
the kernel). There is no camera and no browser: the notebooks fall back to the test pattern or write their
own clip, and nothing paints, so the stream code runs with no viewer.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
#: Wall-clock budget for a whole notebook, kernel start included (each is short by design).
BUDGET_S = 90.0
KERNEL = "livecam-notebook-test"
CHECK_CELL = "import sys as _sys\nprint(_sys.executable)"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("jupyter")
    dirs = {
        name: base / name.lower()
        for name in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")
    }
    for path in dirs.values():
        path.mkdir()
    spec = dirs["JUPYTER_DATA_DIR"] / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "livecam notebook tests",
                "language": "python",
            }
        )
    )
    return {name: str(path) for name, path in dirs.items()}


def test_there_are_notebooks() -> None:
    names = {p.name for p in ALL}
    assert {"quickstart.ipynb", "opencv_processing.ipynb", "push_mode.ipynb", "dashboard.ipynb"} <= names


def test_dashboard_says_how_to_serve_it() -> None:
    nb = nbformat.read(NOTEBOOKS / "dashboard.ipynb", as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "voila notebooks/dashboard.ipynb" in first.source


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_notebook_runs(
    path: pathlib.Path, kernel_env: dict[str, str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in kernel_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LIVECAM_ALLOWED_ORIGINS", raising=False)
    nb = nbformat.read(path, as_version=4)
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), (
        f"{path.name} is stored with outputs; clear them before committing"
    )
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_CELL))
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=60,  # per cell
        startup_timeout=60,
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's cwd: clips etc. land in tmp
    )
    started = time.monotonic()
    client.execute()  # raises CellExecutionError on the first error
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET_S, f"{path.name} took {elapsed:.1f} s (budget {BUDGET_S:g} s)"

    streams = [
        (i, out)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "stream"
    ]
    stderr = "".join(out.text for _, out in streams if out.name == "stderr")
    assert "Traceback" not in stderr and "Exception" not in stderr, f"{path.name} wrote to stderr:\n{stderr}"
    executable = nb.cells[-1].outputs[0].text.strip()
    assert executable == sys.executable, "the notebook did not run on this venv's Python"
