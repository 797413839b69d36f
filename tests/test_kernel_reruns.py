"""Re-running a cell in a real kernel: execute requests carrying a ``cellId``, as JupyterLab sends them."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

jupyter_client = pytest.importorskip("jupyter_client")

KERNEL = "livecam-rerun-test"
GRACE = 2.0


@pytest.fixture
def kernel(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A kernel running this interpreter (a kernelspec in a private JUPYTER_DATA_DIR), and its client."""
    for name in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        path = tmp_path / name.lower()
        path.mkdir()
        monkeypatch.setenv(name, str(path))
    spec = tmp_path / "jupyter_data_dir" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel_json = {"argv": argv, "display_name": KERNEL, "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel_json))
    manager = jupyter_client.KernelManager(kernel_name=KERNEL)
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def execute(client: Any, code: str, cell_id: str) -> str:
    """Run ``code`` as the cell ``cell_id`` of a notebook would be run; return what it printed."""
    content = {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }
    msg = client.session.msg("execute_request", content, metadata={"cellId": cell_id})
    client.shell_channel.send(msg)
    msg_id = msg["header"]["msg_id"]
    printed = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        reply = client.get_iopub_msg(timeout=60)
        if reply["parent_header"].get("msg_id") != msg_id:
            continue
        kind, body = reply["msg_type"], reply["content"]
        if kind == "stream":
            printed.append(body["text"])
        elif kind == "error":
            raise AssertionError("\n".join(body["traceback"]))
        elif kind == "status" and body["execution_state"] == "idle":
            return "".join(printed)
    raise AssertionError(f"no reply to {code!r} within 60 s")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.realtime
def test_ten_reruns_of_a_cell_leave_one_widget_and_an_idle_kernel(kernel: Any) -> None:
    cell = "from livecam_widget import LiveFrame\nlf = LiveFrame('testpattern:1280x720')\nlf"
    for _ in range(10):
        execute(kernel, cell, "cell-with-the-widget")
    other = "keep = LiveFrame('testpattern')\nkeep"
    execute(kernel, other, "another-cell")
    report = (
        "import os, threading\n"
        "from livecam_widget import _registry\n"
        "print(len(_registry._open), sum(t.name == 'livecam-source' for t in threading.enumerate()),"
        " os.getpid())"
    )
    widgets, sources, pid = map(int, execute(kernel, report, "report").split())
    assert (widgets, sources) == (2, 2), "one widget per cell: the re-runs replaced their predecessors"
    time.sleep(GRACE + 0.5)  # nobody watches: both sources idle
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(3.0)
    share = (cpu_seconds(pid) - before) / (time.monotonic() - started)
    print(f"kernel after 10 re-runs, nobody watching: {100 * share:.1f} % of a core")
    assert share < 0.05
