"""The docs cannot drift from the code they describe.

docs/configuration.md's table of environment variables is checked against
``chalicelib.config.Settings``: every field is listed under its upper-case name, every name
listed is a field, and every default written as a plain number or true/false is the field's own.
The README's and the docs' relative links must point at files that exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.config import Settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
HEADER = re.compile(r"^\|\s*variable\s*\|\s*default\s*\|")
NAME = re.compile(r"`([A-Z][A-Z0-9_]*)`")
PLAIN = re.compile(r"^`(-?\d+(?:\.\d+)?|true|false)`$")


def config_rows() -> list[tuple[list[str], str]]:
    """(names in the first column, default cell) for each row of the configuration table."""
    lines = CONFIGURATION.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if HEADER.match(line))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append((NAME.findall(cells[0]), cells[1]))
    return rows


def documented_defaults() -> dict[str, str]:
    return {name: default for names, default in config_rows() for name in names}


def test_the_table_has_rows_and_each_names_a_variable() -> None:
    rows = config_rows()
    assert len(rows) >= 10
    assert all(names for names, _ in rows), [default for names, default in rows if not names]


def test_every_setting_is_documented() -> None:
    missing = sorted(name.upper() for name in Settings.model_fields if name.upper() not in documented_defaults())
    assert not missing, f"add these to docs/configuration.md: {missing}"


def test_every_documented_variable_is_a_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    unknown = sorted(set(documented_defaults()) - fields)
    assert not unknown, f"not fields of chalicelib.config.Settings: {unknown}"


def test_names_are_listed_once() -> None:
    names = [name for names, _ in config_rows() for name in names]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


PLAIN_DEFAULTS = sorted(
    name.upper() for name, field in Settings.model_fields.items() if isinstance(field.default, bool | int | float)
)


@pytest.mark.parametrize("name", PLAIN_DEFAULTS)
def test_plain_defaults_match_the_fields(name: str) -> None:
    default = Settings.model_fields[name.lower()].default
    cell = documented_defaults().get(name)
    assert cell is not None, f"{name} is not in docs/configuration.md"
    if isinstance(default, bool):
        assert cell in {"`true`", "`false`"}, f"{name}: documented as {cell}, default is {default}"
        assert (cell == "`true`") is default, f"{name}: documented as {cell}, default is {default}"
    else:
        match = PLAIN.match(cell)
        assert match and match.group(1) not in {"true", "false"}, f"{name}: documented as {cell}, default is {default}"
        assert float(match.group(1)) == default, f"{name}: documented as {cell}, default is {default}"


def test_string_defaults_that_are_written_as_code_match() -> None:
    """A default written as one code span (`INFO`, `rvc`) is the field's string default."""
    wrong = {}
    for name, cell in documented_defaults().items():
        field = Settings.model_fields.get(name.lower())
        if field is None or not isinstance(field.default, str) or not re.fullmatch(r"`[^`]*`", cell):
            continue
        if cell.strip("`") != field.default:
            wrong[name] = (cell, field.default)
    assert not wrong, wrong


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize(
    "doc", [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_relative_links_point_at_files_and_headings_that_exist(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s)://, mailto:
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        missing_anchor = bool(anchor) and resolved.suffix == ".md" and anchor not in anchors(resolved)
        if not resolved.exists() or (resolved.is_file() and missing_anchor):
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)}: {broken}"


def anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for line in doc.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            found.add(text.replace(" ", "-"))
    return found
