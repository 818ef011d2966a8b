"""The helper servers localdev starts (Valkey, coturn) and the processes it runs: each dies with
its parent, and stops politely first, then for sure."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import tempfile
from typing import Self

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A ``preexec_fn``: the child gets SIGTERM when its parent dies, so a killed test run or
    gateway leaves no server behind (Linux; elsewhere the stop path still cleans up)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def stop_child(process: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``; a process already gone is fine."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ChildServer:
    """A server in a process of its own with a scratch directory; a context manager."""

    _process: subprocess.Popen[bytes] | None = None
    _workdir: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        stop_child(self._process)
        self._process = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
