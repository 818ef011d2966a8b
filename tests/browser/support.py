"""Helpers for the browser tests: the local gateway as a child process, and page-side probes.

The gateway runs as ``python -m localdev`` in a subprocess, exactly as ``make dev`` runs it,
because it imports the app as the module ``app`` and sets environment variables that the unit
tests in this same pytest session must not see.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, WebSocket, expect

# die_with_parent: if pytest itself is killed, the gateway must not outlive it.
from localdev.children import die_with_parent
from localdev.redis_server import free_port

if TYPE_CHECKING:
    from tests.browser.conftest import Pages

PROJECT_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_DIR / "test-artifacts"

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMIUM_ARGS = [
    # A synthetic camera and microphone, granted without a prompt.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Containers and CI: no user namespace sandbox, no GPU.
    "--no-sandbox",
    "--disable-gpu",
    # The test network is closed: keep Chromium from phoning home and waiting on timeouts.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Two pages on one machine: let ICE use loopback when it is the only interface (some CI).
    "--allow-loopback-in-peer-connection",
]

# Sum of framesDecoded over the inbound video streams of the page's RTCPeerConnection.
FRAMES_DECODED = """async () => {
  const pc = window.__rvc.pc();
  if (!pc) return 0;
  let frames = 0;
  (await pc.getStats()).forEach((report) => {
    if (report.type === 'inbound-rtp' && report.kind === 'video') frames += report.framesDecoded || 0;
  });
  return frames;
}"""


def find_chromium() -> str | None:
    """The Chromium binary (CHROMIUM_PATH wins), or None when there is none."""
    configured = os.environ.get("CHROMIUM_PATH")
    for candidate in ([configured] if configured else []) + list(CHROMIUM_CANDIDATES):
        found = shutil.which(candidate)
        if found:
            return found
    return None


# Puts the page's WebSockets within the test's reach, as a flaky network would: `__net.cut()`
# drops the open socket and makes new ones fail (they go to a closed port) until `__net.mend()`.
FLAKY_NETWORK = """
(() => {
  const Native = window.WebSocket;
  const sockets = [];
  let down = false;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(down ? String(url).replace(/\\/\\/[^/]+/, '//127.0.0.1:9') : url, protocols);
      sockets.push(this);
    }
  };
  window.__net = Object.freeze({
    cut() {
      down = true;
      for (const socket of sockets.splice(0)) socket.close(4100, 'network cut by the test');
    },
    mend() {
      down = false;
      window.dispatchEvent(new Event('online')); // as the browser does when the network is back
    },
  });
})();
"""


class Gateway:
    """``python -m localdev`` on a free port, against a given Redis, with no STUN servers.

    By default no schedule runs. ``schedule_interval`` runs the sweep every that many seconds (to
    test what only the sweep does, such as the interest fallback); ``env`` sets app settings;
    ``args`` are more ``python -m localdev`` options (``--turn auto`` starts its coturn).
    """

    def __init__(
        self,
        redis_url: str,
        *,
        schedule_interval: float | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ):
        self.redis_url = redis_url
        self.schedule_interval = schedule_interval
        self.extra_env = dict(env or {})
        self.extra_args = list(args or [])
        self.port = free_port()
        self._log = tempfile.NamedTemporaryFile(prefix="localdev-browser-", suffix=".log", delete=False)  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> Gateway:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALDEV_")}
        for name in ("MANAGEMENT_API_URL", "WEBSOCKET_URL"):
            env.pop(name, None)
        env.update(
            REDIS_URL=self.redis_url,
            # Host candidates are enough between two pages on one machine; no lookups leave it.
            ICE_SERVERS="[]",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        # No reloader, and no minute-by-minute sweep unless the test asks for one.
        command = [sys.executable, "-m", "localdev", "--host", "127.0.0.1", "--port", str(self.port), "--no-reload"]
        if self.schedule_interval is None:
            command.append("--no-schedules")
        else:
            command += ["--schedule-interval", str(self.schedule_interval)]
        command += self.extra_args
        self.process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway did not answer within {timeout} s:\n{self.output()}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "config", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 15.0) -> None:
        """Ctrl-C, as a developer would: sockets close with 1001 and $disconnect runs."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def close(self) -> None:
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


def start_chat(page: Page, name: str | None = None, interests: str = "") -> None:
    """Type an optional display name and interests (comma-separated), and press Start."""
    if name:
        page.fill("#name-input", name)
    if interests:
        add_interests(page, interests)
    page.click("#start")


def add_interests(page: Page, text: str) -> None:
    """Type ``text`` into the interests field and press Enter, which turns it into chips."""
    page.fill("#interests-input", text)
    page.press("#interests-input", "Enter")


def record_sent_messages(page: Page) -> list[dict[str, Any]]:
    """Every JSON message the page sends on its WebSockets from now on, in order."""
    sent: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: sent.append(json.loads(payload)))

    page.on("websocket", watch)
    return sent


def record_received_events(page: Page) -> list[dict[str, Any]]:
    """Every JSON event the page receives on its WebSockets from now on, in arrival order."""
    received: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: received.append(json.loads(payload)))

    page.on("websocket", watch)
    return received


def wait_connected(page: Page, timeout_ms: float = 45_000) -> None:
    """Wait until the page's RTCPeerConnection is connected."""
    page.wait_for_function(
        "() => window.__rvc.pc() !== null && window.__rvc.pc().connectionState === 'connected'",
        polling=200,
        timeout=timeout_ms,
    )


def wait_remote_video_plays(page: Page, timeout_ms: float = 45_000) -> None:
    """Wait until real frames arrive: framesDecoded grows, and the <video> shows moving pictures."""
    page.wait_for_function(f"async () => (await ({FRAMES_DECODED})()) > 0", polling=250, timeout=timeout_ms)
    first = page.evaluate(FRAMES_DECODED)
    page.wait_for_function(
        f"async (base) => (await ({FRAMES_DECODED})()) >= base + 10", arg=first, polling=250, timeout=timeout_ms
    )
    started = page.evaluate("() => document.getElementById('remote-video').currentTime")
    page.wait_for_function(
        """(t0) => {
          const video = document.getElementById('remote-video');
          return video.videoWidth > 0 && video.videoHeight > 0 && video.currentTime > t0 + 0.2;
        }""",
        arg=started,
        polling=250,
        timeout=timeout_ms,
    )


def chat_texts(page: Page, who: str) -> list[str]:
    """The texts of the chat messages from ``who`` ('me', 'peer' or 'system')."""
    selector = f"#chat-log .msg-{who} .msg-text" if who != "system" else "#chat-log .msg-system"
    return page.locator(selector).all_text_contents()


def send_chat(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def screenshot(page: Page, name: str) -> Path:
    """Save what the page shows as test-artifacts/``name`` (git-ignored), for people to look at."""
    path = ARTIFACTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


def status(page: Page) -> Any:
    """Assertions on the page's status line."""
    return expect(page.locator("#status"))


def pair(pages: Pages, first: str = "Ana", second: str = "Bo", **options: Any) -> tuple[Page, Page]:
    """Two visitors start one after the other and end up in one room (``options`` open the first)."""
    a = pages.open(first, **options)
    start_chat(a, first)
    status(a).to_contain_text("Looking for someone")
    b = pages.open(second)
    start_chat(b, second)
    status(a).to_contain_text(f"Connected to {second}")
    status(b).to_contain_text(f"Connected to {first}")
    return a, b
