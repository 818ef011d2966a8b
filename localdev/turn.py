"""A real coturn beside the local gateway, so calls can go through a TURN relay on one machine.

coturn runs with ``--use-auth-secret`` (the TURN REST API scheme that ``chalicelib/ice.py``
mints credentials for) and keeps its shared secrets in a throwaway SQLite database (the
``turn_secret`` table) rather than ``--static-auth-secret``: coturn reads that table on every
authentication, so secrets can be added and removed while it runs. That is what rotating the
secret without dropping calls needs, and the AWS relay in ``infra/stack.yaml`` does the same.

Development only, like the rest of ``localdev/``: no TLS, loopback peers allowed (both browsers
are on this machine, so each relays to the other's 127.0.0.1 relay address).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from localdev.children import ChildServer, die_with_parent

REALM = "localdev"
# Enough relay ports for a few dozen local calls; a fixed range keeps the firewall story simple.
DEFAULT_MIN_PORT = 49152
DEFAULT_MAX_PORT = 65535


def find_coturn(configured: str | None = None) -> str | None:
    """Path of coturn's ``turnserver`` (``configured`` or ``TURNSERVER_PATH`` wins), or None."""
    candidate = configured or os.environ.get("TURNSERVER_PATH") or "turnserver"
    return shutil.which(candidate)


def new_secret() -> str:
    """A per-run shared secret: 256 random bits, well past the app's 16-character minimum."""
    return secrets.token_urlsafe(32)


def free_udp_and_tcp_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP: coturn listens on both with the same number."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port is free for both UDP and TCP")


class TurnServer(ChildServer):
    """One coturn process on ``host``; use as a context manager or call start()/stop().

    ``shared_secrets`` are the secrets it accepts at start; ``add_secret`` and ``remove_secret``
    change them while it runs (coturn accepts a credential made with any of them).
    """

    def __init__(
        self,
        shared_secrets: Sequence[str],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        min_port: int = DEFAULT_MIN_PORT,
        max_port: int = DEFAULT_MAX_PORT,
        binary: str | None = None,
        own_session: bool = False,
        extra_args: Sequence[str] = (),
        realm: str = REALM,
    ) -> None:
        """``own_session`` keeps a terminal's Ctrl-C away from coturn, so ``make dev`` stops it
        last, after the WebSockets closed (as with the embedded Valkey). ``extra_args`` are more
        turnserver options (tests shorten ``--max-allocate-lifetime`` to see refreshes)."""
        found = find_coturn(binary)
        if found is None:
            raise FileNotFoundError("coturn's turnserver is not installed (apt-get install coturn)")
        self.binary = found
        self.initial_secrets = list(shared_secrets)
        self.host = host
        self.port = port or free_udp_and_tcp_port(host)
        self.min_port = min_port
        self.max_port = max_port
        self.own_session = own_session
        self.extra_args = list(extra_args)
        self.realm = realm
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def urls(self) -> list[str]:
        """What ``TURN_URLS`` should list: the same listener over UDP and over TCP."""
        return [f"turn:{self.host}:{self.port}?transport=udp", f"turn:{self.host}:{self.port}?transport=tcp"]

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("coturn is not running")
        return self._process.pid

    @property
    def _dir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("coturn is not running")
        return Path(self._workdir.name)

    def start(self, timeout: float = 10.0) -> TurnServer:
        self._workdir = tempfile.TemporaryDirectory(prefix="rvc-turn-")
        # Create the database (turnadmin makes its tables) before coturn opens it: the two
        # creating it at once can leave turnadmin's first write lost.
        self._turnadmin("--show-secret")
        for secret in self.initial_secrets:
            self.add_secret(secret)
        # An empty config file of our own: otherwise coturn also reads /etc/turnserver.conf.
        config = self._dir / "turnserver.conf"
        config.write_text("")
        loopback = self.host.startswith("127.") or self.host == "::1"
        args = [
            self.binary,
            "-c", str(config),
            "--listening-ip", self.host,
            "--relay-ip", self.host,
            "--listening-port", str(self.port),
            "--min-port", str(self.min_port),
            "--max-port", str(self.max_port),
            "--realm", self.realm,
            "--use-auth-secret",
            "--userdb", str(self.secret_db),
            "--fingerprint",
            "--no-tls", "--no-dtls",
            # No admin console (it would also take a fixed port, 5766, shared by every run).
            "--no-cli",
            "--no-rfc5780",
            "--no-software-attribute",
            "--pidfile", str(self._dir / "turnserver.pid"),
            "--log-file", "stdout",
            "--simple-log",
            *(["--allow-loopback-peers"] if loopback else []),
            *self.extra_args,
        ]
        with (self._dir / "turnserver.log").open("wb") as log:
            self._process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
                start_new_session=self.own_session,
            )
        self._wait_ready(timeout)
        return self

    @property
    def secret_db(self) -> Path:
        """The SQLite database whose turn_secret table coturn reads (the AWS relay's sync edits
        its own the same way, with turnadmin)."""
        return self._dir / "turndb.sqlite"

    def _wait_ready(self, timeout: float) -> None:
        # coturn opens its UDP and TCP listeners together: a TCP connect means it is serving.
        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"coturn exited at start:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"coturn did not answer on port {self.port}:\n{self.log_tail()}") from exc
                time.sleep(0.05)

    def _turnadmin(self, *args: str) -> str:
        # turnadmin is the same binary run under another name; it edits the SQLite table coturn reads.
        admin = shutil.which("turnadmin", path=str(Path(self.binary).parent)) or "turnadmin"
        done = subprocess.run(
            [admin, *args, "-r", self.realm, "-b", str(self.secret_db)], capture_output=True, text=True, timeout=10
        )
        if done.returncode != 0:
            raise RuntimeError(f"turnadmin {' '.join(args[:1])} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def secrets(self) -> set[str]:
        """The secrets coturn accepts now (its turn_secret table for this realm)."""
        suffix = f"[{self.realm}]"
        lines = self._turnadmin("--show-secret").splitlines()
        return {line.removesuffix(suffix) for line in lines if line.endswith(suffix) and " " not in line}

    def _change(self, option: str, secret: str, present: bool) -> None:
        # turnadmin exits 0 even when SQLite was busy and nothing was written: check, and retry.
        for _ in range(20):
            self._turnadmin(option, secret)
            if (secret in self.secrets()) == present:
                return
            time.sleep(0.05)
        raise RuntimeError(f"turnadmin {option} did not take effect")

    def add_secret(self, secret: str) -> None:
        """From now on coturn also accepts credentials made with ``secret``."""
        self._change("--set-secret", secret, present=True)

    def remove_secret(self, secret: str) -> None:
        """From now on coturn refuses new allocations signed with ``secret`` (only that one);
        allocations made with it go on, since coturn checks a session's key once."""
        self._change("--delete-secret", secret, present=False)

    def allocates(self, username: str, credential: str, timeout: float = 15.0) -> bool:
        """Whether coturn grants fresh allocations to these credentials. coturn's own test client
        (turnutils_uclient, same package) makes two, binds channels between them, and reports
        "Total connect time" once all that succeeded; it is stopped there, before its seconds of
        sending test packets."""
        client = shutil.which("turnutils_uclient", path=str(Path(self.binary).parent)) or shutil.which(
            "turnutils_uclient"
        )
        if client is None:
            raise FileNotFoundError("turnutils_uclient (coturn's test client) is not installed")
        args = [client, "-y", "-c", "-n", "1", "-p", str(self.port), "-u", username, "-w", credential, self.host]
        with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as probe:
            timer = threading.Timer(timeout, probe.kill)
            timer.start()
            try:
                assert probe.stdout is not None
                for line in probe.stdout:
                    if "Cannot complete Allocation" in line:
                        return False
                    if "Total connect time" in line:
                        return True
                return False  # it exited (or was killed) without connecting
            finally:
                timer.cancel()
                probe.kill()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def log(self) -> str:
        """Everything coturn has logged so far (its refusals say why: 401, expired, ...)."""
        if self._workdir is None:
            return ""
        path = self._dir / "turnserver.log"
        return path.read_text(errors="replace") if path.exists() else ""

