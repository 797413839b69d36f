"""Runs one client subprocess (bench.clientproc) and samples the server process around its window."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    """Environment for our subprocesses: the repo root on the path, so ``-m bench.*`` resolves."""
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


class ClientRun:
    """``run()`` blocks until the clients report; meanwhile the server and producer run on their threads.

    ``on_start`` / ``on_end`` run in this (server) process the moment the client process prints START and
    END, so the server's CPU, RSS and counters are sampled over the same window the clients measure. The
    client process spends its warm-up before START: connection set-up and TCP ramp-up are not measured.
    """

    def __init__(
        self,
        spec: dict[str, Any],
        on_start: Callable[[], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self.spec = spec
        self.on_start = on_start
        self.on_end = on_end
        self.result: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        timeout = float(self.spec.get("warmup", 2)) + float(self.spec["duration"]) + 60
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.clientproc", json.dumps(self.spec)],
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        watchdog = threading.Timer(timeout, proc.kill)  # a hung client must not hang the suite
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.strip()
                if line == "START" and self.on_start:
                    self.on_start()
                elif line == "END" and self.on_end:
                    self.on_end()
                elif line.startswith("RESULT "):
                    self.result = json.loads(line[len("RESULT ") :])
            proc.wait(timeout)
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if not self.result:
            raise RuntimeError(f"client process failed (exit {proc.returncode}) for spec {self.spec}")
        return self.result


def in_fresh_process(function: str, timeout: float, **kwargs: Any) -> dict[str, Any]:
    """Run ``bench.rows.<function>(**kwargs)`` in a new server process (bench.isolated); return its dict."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.isolated", function, json.dumps(kwargs)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    raise RuntimeError(f"bench.isolated {function} failed (exit {proc.returncode})")
