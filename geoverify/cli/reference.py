"""The command-line reference, ``docs/cli-reference.md``, generated from the commands' ``--help``.

:func:`render` walks the ``geoverify`` click group depth first (commands in name order, as
``--help`` lists them) and prints each command's help exactly as ``geoverify … --help`` does on a
terminal of :data:`WIDTH` columns or more: the width is fixed here, so the page does not depend on
the terminal it is generated in. Regenerate the page with::

    python -m geoverify.cli.reference > docs/cli-reference.md

(or ``make docs``); ``tests/test_cli_reference.py`` fails while the page and the commands differ.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import click

#: Columns of the help text: what click prints on any terminal of 80 columns or more (its
#: ``max_content_width`` of 80, less its margin of 2).
WIDTH = 78

REGENERATE = "python -m geoverify.cli.reference > docs/cli-reference.md"

_HEADER = f"""\
<!-- Generated: do not edit by hand. Regenerate with `{REGENERATE}` (or `make docs`). -->
# Command-line reference

Generated from the commands' own `--help` by `{REGENERATE}` (or
`make docs`): do not edit this page by hand; change the command and regenerate it
(`tests/test_cli_reference.py` fails until the page matches the commands).

Every `geoverify` command and subcommand follows with its usage line, help text and options,
exactly as `geoverify COMMAND --help` prints them on a terminal of 80 columns or more. What the
commands are for, what they read and what they print: [cli.md](cli.md).
"""


def commands(
    group: click.Group | None = None, ctx: click.Context | None = None
) -> Iterator[tuple[click.Context, click.Command]]:
    """Each command under ``group`` (default: ``geoverify``) with a context for its help, depth first,
    the group itself first and each group's commands in name order; hidden commands left out."""
    if group is None:
        from geoverify.cli.main import main

        group = main
    if ctx is None:
        ctx = click.Context(group, info_name="geoverify", terminal_width=WIDTH, max_content_width=WIDTH)
        yield ctx, group
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        child = click.Context(command, info_name=name, parent=ctx)
        yield child, command
        if isinstance(command, click.Group):
            yield from commands(command, child)


def _anchor(path: str) -> str:
    """GitHub's anchor of a heading ``path`` in backticks (words of letters, digits and ``-``)."""
    return "-".join(path.lower().split())


def render() -> str:
    """The Markdown of ``docs/cli-reference.md``: a list of commands, then one section per command
    and subcommand holding its ``--help`` in a code block."""
    found = list(commands())
    lines = [_HEADER, "## Commands", ""]
    for ctx, command in found:
        depth = ctx.command_path.count(" ")
        summary = command.get_short_help_str(limit=200)
        lines.append(
            f"{'  ' * max(depth - 1, 0)}- [`{ctx.command_path}`](#{_anchor(ctx.command_path)})"
            + (f": {summary}" if summary else "")
        )
    for ctx, command in found:
        lines += ["", f"## `{ctx.command_path}`", "", "```text", command.get_help(ctx), "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
