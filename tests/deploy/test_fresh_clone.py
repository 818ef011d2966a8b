"""Plain Chalice commands on a fresh clone stop with one sentence naming the command to use.

``chalice deploy`` and ``chalice package`` on the repository itself would miss what
``python -m deploy`` fills in (policy files, REDIS_URL, the VPC, the API id), and ``chalice local``
serves no WebSockets. ``app.py`` stops them, unless the Chalice CLI runs on a project the deploy
generated (``deploy.flow.GENERATED_PROJECT_ENV``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.flow import GENERATED_PROJECT_ENV
from deploy.stages import ROOT

COMMANDS = {
    "deploy": (["deploy", "--stage", "dev"], "make deploy STAGE="),
    "package": (["package", "--stage", "dev", "out"], "make package STAGE="),
    "local": (["local", "--port", "0"], "make dev"),
}


def fresh_clone(dest: Path) -> Path:
    """What a clone holds for Chalice: the app, its config, and no generated policy file."""
    for name in ("app.py", "requirements.txt"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "chalicelib", dest / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / ".chalice").mkdir()
    shutil.copy2(ROOT / ".chalice" / "config.json", dest / ".chalice" / "config.json")
    return dest


@pytest.mark.parametrize("command", COMMANDS)
def test_a_plain_chalice_command_on_a_fresh_clone_names_the_command_to_use(tmp_path, command):
    args, instead = COMMANDS[command]
    env = {k: v for k, v in os.environ.items() if k != GENERATED_PROJECT_ENV}
    env.update(AWS_DEFAULT_REGION="eu-west-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "chalice"), *args],  # the script users run (chalice local re-runs argv)
        cwd=fresh_clone(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # chalice local would otherwise serve a page whose socket never opens
    )
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and instead in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    if command != "local":  # chalice local's reloader exits 0 whatever its worker did
        assert done.returncode != 0
