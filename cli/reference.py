"""The docs site's generated pages: the configuration reference from the pydantic model (every key's
type, default, bounds and docstring) and the CLI reference from the parser (every command's --help).

Also the MkDocs hook (`mkdocs.yml` `hooks:`): a page's `<!-- generated: NAME -->` line is replaced by
the reference NAME, so the site cannot drift from the code it documents."""

from __future__ import annotations

import argparse
import inspect
import os
import re
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
HELP_COLUMNS = "100"


# ---------------------------------------------------------------- configuration


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: FieldInfo) -> str:
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "at least", "pattern": "matches"}
    found = []
    for item in field.metadata:
        for attr, word in words.items():
            value = getattr(item, attr, None)
            if value is not None:
                shown = f"{value:g}" if isinstance(value, float) else value
                if attr == "pattern":
                    found.append(f"{word} `{value}`")
                elif attr == "min_length":
                    shown = "1 entry" if value == 1 else f"{value} entries"
                    found.append("not empty" if field.annotation is str else f"at least {shown}")
                else:
                    found.append(f"{word} {shown}")
    return ", ".join(found)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The model a key holds (a section, or a list of them), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_model(arg)
        if found is not None:
            return found
    return None


def config_sections(model: type[BaseModel], path: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    """(dotted path, model) for the model and every section under it, depth first."""
    yield path, model
    for name, field in model.model_fields.items():
        section = _section_model(field.annotation)
        if section is not None:
            many = typing.get_origin(field.annotation) is list
            yield from config_sections(section, f"{path}{name}{'[]' if many else ''}.")


def config_reference(root: type[BaseModel] | None = None) -> str:
    """Every key of `root` (default GateConfig: gate.yaml) and of its sections, in tables."""
    from gatekeeper.config import GateConfig

    lines: list[str] = []
    for path, model in config_sections(root or GateConfig):
        title = path.rstrip(".") or "top level"
        lines += [f"### `{title}`" if path else "### Top level", ""]
        doc = " ".join((model.__doc__ or "").split())
        if doc:
            lines += [doc, ""]
        lines += ["| key | type | default | allowed | what it does |", "|---|---|---|---|---|"]
        own = list(inspect.get_annotations(model))  # a class's own keys before inherited ones
        for name, field in sorted(model.model_fields.items(), key=lambda kv: kv[0] not in own):
            description = " ".join((field.description or "").split()).replace("|", "\\|")
            lines.append(
                f"| `{path}{name}` | {_type_name(field.annotation)} | {_default(field)} | "
                f"{_bounds(field)} | {description} |"
            )
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def commands(parser: argparse.ArgumentParser, prefix: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from commands(sub, f"{prefix} {name}")


def cli_reference() -> str:
    from cli import build_parser

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS  # argparse wraps to the terminal: the same page everywhere
    try:
        parser = build_parser()
        lines = ["## `gatekeeper`", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name, sub in commands(parser, "gatekeeper"):
            lines += [f"## `{name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before
    return "\n".join(lines)


def fleet_reference() -> str:
    from gatekeeper.fleet import FleetFile

    return config_reference(FleetFile)


GENERATED: dict[str, Callable[[], str]] = {
    "config-reference": config_reference,
    "fleet-reference": fleet_reference,
    "cli-reference": cli_reference,
}


def expand(markdown: str) -> str:
    """A page with every `<!-- generated: NAME -->` line replaced by that reference."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATED:
            raise ValueError(f"unknown generated reference {name!r}; expected one of {sorted(GENERATED)}")
        return GENERATED[name]()

    return MARKER.sub(one, markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook."""
    return expand(markdown)
