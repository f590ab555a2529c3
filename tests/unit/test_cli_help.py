"""Every subcommand says what it does and shows an example that parses; `--version` answers."""

from __future__ import annotations

import shlex

import pytest

from cli import EXAMPLES, build_parser, main
from cli.reference import commands
from gatekeeper import __version__


def _subcommands() -> list[str]:
    """Every command a user runs (`webhook serve`, not the group `webhook`), as the CLI reference has them."""
    named = [name.removeprefix("gatekeeper ") for name, _ in commands(build_parser(), "gatekeeper")]
    return [n for n in named if not any(other.startswith(n + " ") for other in named)]


def test_every_subcommand_has_an_example() -> None:
    assert sorted(_subcommands()) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_parses_and_the_help_shows_it(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    words = shlex.split(EXAMPLES[name])
    assert words[0] == "gatekeeper"
    args = build_parser().parse_args(words[1:])
    assert callable(args.func)
    with pytest.raises(SystemExit) as done:
        main([*name.split(), "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert f"example:\n  {EXAMPLES[name]}" in shown  # the whole example, as printed


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"gatekeeper {__version__}"
