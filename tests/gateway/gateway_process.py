"""Run ``python -m localdev`` as a child process on a free port, as a developer would run it.

A subprocess (not a thread in the test process) because the gateway imports the app as the
module ``app`` and rewrites os.environ; the unit tests in this same session import the
real app under that name. It also tests the real command line and Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from localdev.children import die_with_parent
from localdev.redis_server import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
ECHO_APP = Path(__file__).resolve().parent / "echo_app"


class GatewayProcess:
    def __init__(
        self, app_dir: Path, *args: str, redis_url: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.app_dir = app_dir
        self.extra_env = env or {}
        self.args = list(args)
        self.redis_url = redis_url
        self.port = free_port()
        self._log_fd, self._log_path = tempfile.mkstemp(prefix="localdev-", suffix=".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def output(self) -> str:
        return Path(self._log_path).read_text(errors="replace")

    def start(self, timeout: float = 20.0) -> GatewayProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALDEV_")}
        env.pop("MANAGEMENT_API_URL", None)
        env.pop("REDIS_URL", None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env["PYTHONUNBUFFERED"] = "1"
        # The gateway's own tests expect exact events: no device identities (an `identity`
        # event for every new socket) unless a test asks for them with its own secret.
        env["IDENTITY_SECRET"] = ""
        env.update(self.extra_env)
        command = [sys.executable, "-m", "localdev", "--app-dir", str(self.app_dir), "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, *self.args], cwd=PROJECT_DIR, env=env, stdout=self._log_fd, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while "Local API Gateway for" not in self.output():
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gateway did not start in {timeout} s:\n{self.output()}")
            time.sleep(0.05)
        return self

    def interrupt(self, timeout: float = 15.0) -> int:
        """Ctrl-C as a terminal sends it, to the whole process group; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            self.interrupt()
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        os.close(self._log_fd)
        os.unlink(self._log_path)


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
