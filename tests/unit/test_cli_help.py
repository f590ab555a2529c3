"""Every subcommand says what it does and shows an example that parses; `--version` answers."""

from __future__ import annotations

import shlex

import pytest

from cli import EXAMPLES, build_parser, main
from gatekeeper import __version__


def _subcommands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    names = []
    for name, sub in actions[0].choices.items():
        inner = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        names += [f"{name} {verb}" for verb in inner[0].choices] if inner else [name]
    return names


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
    assert "example:" in shown
    assert EXAMPLES[name].split()[1] in shown


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"gatekeeper {__version__}"
