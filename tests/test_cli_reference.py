"""docs/cli-reference.md is the commands' --help as they are now (geoverify.cli.reference)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from geoverify.cli.main import main
from geoverify.cli.reference import REGENERATE, render

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cli-reference.md"


def command_paths(group: click.Group, prefix: str = "geoverify") -> list[str]:
    """Every command path under ``group``, read from the click objects (not from the generator)."""
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += command_paths(command, f"{prefix} {name}")
        else:
            paths.append(f"{prefix} {name}")
    return paths


def help_block(page: str, path: str) -> str:
    """The ``--help`` text of the section ``## `path` `` of ``page``."""
    section = page.split(f"\n## `{path}`\n", 1)[1]
    return section.split("```text\n", 1)[1].split("\n```", 1)[0]


def test_the_page_is_what_the_generator_writes_now():
    expected = render()
    actual = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    assert actual == expected, (
        f"{PAGE.name} differs from the commands' --help: regenerate it with `{REGENERATE}` (or `make docs`) "
        "and commit it with the change to the commands"
    )


def test_every_command_and_subcommand_has_a_section():
    page = render()
    paths = command_paths(main)
    assert {
        "geoverify verify",
        "geoverify token create",
        "geoverify audit verify",
        "geoverify load tracks",
        "geoverify rules show",
        "geoverify assessment",
    } <= set(paths)
    for path in paths:
        assert f"\n## `{path}`\n" in page, f"{path} has no section"
        assert f"Usage: {path} " in help_block(page, path), path
    assert page.count("\n## `geoverify") == len(paths)


def test_the_page_does_not_depend_on_the_terminal(monkeypatch):
    page = render()
    for columns in ("40", "300"):
        monkeypatch.setenv("COLUMNS", columns)
        assert render() == page


def test_a_section_is_what_help_prints_on_a_terminal():
    page = render()
    for args in (["verify"], ["token", "rotate"]):
        printed = subprocess.run(
            [sys.executable, "-c", "from geoverify.cli.main import main; main(prog_name='geoverify')", *args, "--help"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "COLUMNS": "120"},
        ).stdout
        assert printed == help_block(page, " ".join(["geoverify", *args])) + "\n"
