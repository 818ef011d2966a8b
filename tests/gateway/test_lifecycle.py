"""Starting, reloading and stopping the gateway the way a developer does."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from localdev.redis_server import free_port
from tests.gateway.clients import connect, recv_json, send, wait_for
from tests.gateway.gateway_process import ECHO_APP, PROJECT_DIR, GatewayProcess, port_is_open


def test_ctrl_c_closes_sockets_runs_disconnect_and_stops_the_embedded_valkey() -> None:
    with GatewayProcess(ECHO_APP, "--no-schedules") as gateway:
        found = re.search(r"Redis\s+redis://127\.0\.0\.1:(\d+)/0\s+\(embedded Valkey", gateway.output())
        assert found, gateway.output()
        valkey_port = int(found.group(1))
        assert port_is_open(valkey_port)
        with connect(gateway.ws_url) as ws:
            send(ws, {"action": "echo"})
            recv_json(ws)
            assert gateway.interrupt() == 0
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert re.search(r"\$disconnect\s+-\s+200 .* 1001 Going away", gateway.output()), gateway.output()
        assert not port_is_open(valkey_port)
        assert not port_is_open(gateway.port)


@pytest.fixture
def editable_app(tmp_path: Path) -> Path:
    app_dir = tmp_path / "echo_app"
    shutil.copytree(ECHO_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    return app_dir


def test_editing_app_py_reloads_the_app_and_keeps_sockets_open(
    editable_app: Path, gateway_redis_url: str, store: Any
) -> None:
    gateway = GatewayProcess(editable_app, "--no-schedules", redis_url=gateway_redis_url)
    with gateway, connect(gateway.ws_url) as ws:
        send(ws, {"action": "echo"})
        assert "echo" in recv_json(ws)
        source = editable_app / "app.py"
        source.write_text(source.read_text().replace('REPLY_PREFIX = "echo"', 'REPLY_PREFIX = "reloaded"'))
        wait_for(lambda: "Reloaded the app (app.py changed); 1 WebSocket(s) stay connected" in gateway.output(),
                 what="the reload")
        send(ws, {"action": "echo"})
        assert recv_json(ws) == {"reloaded": {"action": "echo"}, "route": "$default"}


def test_a_broken_edit_keeps_the_previous_version_serving(
    editable_app: Path, gateway_redis_url: str, store: Any
) -> None:
    with GatewayProcess(editable_app, "--no-schedules", redis_url=gateway_redis_url) as gateway:
        source = editable_app / "app.py"
        source.write_text(source.read_text() + "\nthis is not python\n")
        wait_for(lambda: "still serving the previous version" in gateway.output(), what="the failed reload")
        with connect(gateway.ws_url) as ws:
            send(ws, {"action": "echo"})
            assert recv_json(ws) == {"echo": {"action": "echo"}, "route": "$default"}


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localdev", *args], cwd=PROJECT_DIR, capture_output=True, text=True,
        timeout=timeout, env={"PATH": "/usr/bin:/bin", "REDIS_URL": "redis://127.0.0.1:1/0"},
    )


def test_a_busy_port_fails_at_once_with_a_clear_message() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        result = run_cli("--port", str(squatter.getsockname()[1]), "--app-dir", str(ECHO_APP))
    assert result.returncode == 1
    assert "Cannot listen on 127.0.0.1:" in result.stderr and "--port" in result.stderr


def test_an_app_that_cannot_be_imported_stops_the_gateway_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("raise ImportError('no module named chalicelib.nowhere')\n")
    result = run_cli("--port", str(free_port()), "--app-dir", str(tmp_path))
    assert result.returncode == 1
    assert "Cannot start: Unable to import app.py" in result.stdout
    assert "no module named chalicelib.nowhere" in result.stdout
