"""The Lua scripts pass luacheck (Debian's lua-check) as Redis runs them: the generated locals,
the prelude, then each body, in Lua 5.1 with Redis's globals; and they read exactly the
arguments, policy fields and rate families that chalicelib/scripts declares."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chalicelib import scripts
from chalicelib.store import Policy

LUACHECK = shutil.which("luacheck")
REDIS_GLOBALS = ("redis", "cjson", "KEYS", "ARGV", "unpack")
# The prelude's top-level names: every script gets them all and uses only some.
TOP_LEVEL = re.compile(r"^local\s+(?:function\s+)?([\w, ]+?)\s*(?:=|\()", re.MULTILINE)

# The constants a store compiles in: the default policy (its values never change the names).
CONSTANTS = scripts.Constants(600_000, 7_200_000, 60_000, Policy().to_json())
GENERATED = (scripts.KEY_LOCALS, scripts.SHARED_LOCALS, CONSTANTS.locals())

pytestmark = pytest.mark.skipif(
    LUACHECK is None and not os.environ.get("CI"), reason="luacheck is not installed (apt-get install lua-check)"
)


def shared_names() -> list[str]:
    names = {name.strip() for chunk in (*GENERATED, scripts.lua("prelude"))
             for match in TOP_LEVEL.finditer(chunk) for name in match.group(1).split(",")}
    return sorted(names)


def luacheck(source: str, tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    assert LUACHECK, "luacheck is missing: .ci/run installs lua-check"
    path = tmp_path / f"{name}.lua"
    path.write_text(source, encoding="utf-8")
    ignore = [f"211/{shared}" for shared in shared_names()]  # unused in this script only
    return subprocess.run(
        [LUACHECK, "--std", "lua51", "--read-globals", *REDIS_GLOBALS, "--no-color", "--codes",
         "--ignore", *ignore, "--", str(path)],
        capture_output=True, text=True, check=False,
    )


@pytest.mark.parametrize("name", scripts.STATE_SCRIPTS)
def test_each_state_script_passes_luacheck(name: str, tmp_path: Path) -> None:
    result = luacheck(scripts.source(name, CONSTANTS), tmp_path, name)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("name", scripts.SLOT_SCRIPTS)
def test_each_script_on_a_rooms_slot_passes_luacheck(name: str, tmp_path: Path) -> None:
    result = luacheck(scripts.SLOT_SCRIPTS[name].source, tmp_path, name)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("name", scripts.SLOT_SCRIPTS)
def test_each_script_on_a_rooms_slot_reads_exactly_its_arguments_and_keys(name: str) -> None:
    body, declared = scripts.lua(name), scripts.SLOT_SCRIPTS[name]
    assert set(re.findall(r"\bA\.(\w+)", body)) == set(declared.args)
    assert set(re.findall(r"\b([A-Z]{3,})\b", body)) >= {key.upper() for key in declared.keys}
    assert "KEYS[" not in body and "ARGV[" not in body  # only through the generated locals


def test_the_relay_families_cover_every_kind_a_client_may_relay() -> None:
    from typing import get_args

    from chalicelib import protocol
    from chalicelib.config import DEFAULT_RATES
    from chalicelib.store import RELAY_FAMILIES

    kinds = {*get_args(protocol.Signal.model_fields["type"].annotation), "chat", "typing"}
    assert set(RELAY_FAMILIES) == kinds
    assert set(RELAY_FAMILIES.values()) == set(scripts.SCRIPTS["relay"].families) <= set(DEFAULT_RATES)


def test_the_lock_release_script_passes_luacheck(tmp_path: Path) -> None:
    result = luacheck(scripts.RELEASE_LOCK, tmp_path, "release_lock")
    assert result.returncode == 0, result.stdout


def test_luacheck_catches_a_misspelt_key(tmp_path: Path) -> None:
    broken = scripts.source("ping", CONSTANTS).replace("return finish('pong'", "redis.call('GET', QUEUEE)\nreturn finish('pong'")
    result = luacheck(broken, tmp_path, "broken")
    assert result.returncode != 0 and "QUEUEE" in result.stdout


def test_every_shared_name_of_the_prelude_is_used_somewhere() -> None:
    """The unused-variable check is off for the prelude's names (each script uses some), so a
    name no script and no other prelude line uses would go unseen: look for it here."""
    texts = [scripts.lua("prelude"), *(scripts.lua(name) for name in scripts.STATE_SCRIPTS)]
    generated = {match.group(1).strip() for chunk in GENERATED
                 for match in TOP_LEVEL.finditer(chunk)}

    def uses(name: str) -> int:
        found = sum(len(re.findall(rf"\b{re.escape(name)}\b", text)) for text in texts)
        return found if name in generated else found - 1  # minus the prelude's own definition

    assert [name for name in shared_names() if uses(name) < 1] == []


def test_the_scripts_read_only_policy_fields_that_exist_and_every_field_is_read() -> None:
    """`P` is store.Policy under its own field names: a misspelt one would be nil in Lua."""
    import dataclasses

    texts = [scripts.lua("prelude"), *(scripts.lua(name) for name in scripts.STATE_SCRIPTS)]
    read = {name for text in texts for name in re.findall(r"\bP\.(\w+)", text)}
    assert read == {field.name for field in dataclasses.fields(Policy)}


@pytest.mark.parametrize("name", scripts.STATE_SCRIPTS)
def test_each_script_reads_exactly_the_arguments_it_declares(name: str) -> None:
    """``A`` is generated from the declaration: a field read but not declared would be nil."""
    read = set(re.findall(r"\bA\.(\w+)", scripts.lua(name)))
    assert read == set(scripts.SCRIPTS[name].args)


def test_the_declared_rate_families_are_the_configured_ones_and_each_is_charged() -> None:
    """Every family a script charges has a configured bucket, and every configured bucket is
    charged by some script ('abuse' by every refusal, in the prelude)."""
    from chalicelib.config import DEFAULT_RATES

    declared = {family for script in scripts.SCRIPTS.values() for family in script.families}
    assert declared | {"abuse"} == set(DEFAULT_RATES)
    assert "take(dev_of(info, cid), 'abuse')" in scripts.lua("prelude")


@pytest.mark.parametrize("name", [s.name for s in scripts.SCRIPTS.values() if len(s.families) == 1])
def test_a_script_with_one_family_charges_it_by_name(name: str) -> None:
    assert "begin(" in scripts.lua(name) and "FAMILY)" in scripts.lua(name)

