"""The README and the docs site: every shell command is run by a test, the references are generated
from the code, the quickstart stays short, every example config loads, decision.json is documented."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from cli.reference import GENERATED, config_reference, config_sections, expand
from gatekeeper.config import GateConfig, parse_config
from gatekeeper.decide.decision import Decision
from gatekeeper.fleet import FleetFile
from tests.doc_commands import PAGES, REPO, SHELL_FENCE, all_blocks, blocks, split_commands

SCRIPT_CALL = re.compile(r"DocScript\(\s*\"([^\"]+)\",\s*\"([\w-]+)\"")


def test_every_shell_block_is_marked_with_the_script_that_runs_it() -> None:
    for page in PAGES:
        text = (REPO / page).read_text()
        found = blocks(page)
        assert len(found) == len(SHELL_FENCE.findall(text)), f"{page}: a shell fence the parser missed"
        unmarked = [b.line for b in found if b.name is None]
        assert not unmarked, f"{page}: shell blocks at lines {unmarked} have no <!-- run: NAME --> marker"


def test_every_marked_block_is_run_by_a_test_or_by_ci() -> None:
    run_by_tests = {
        match.groups()
        for path in (REPO / "tests").rglob("*.py")
        for match in SCRIPT_CALL.finditer(path.read_text())
    }
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    for block in all_blocks():
        if block.name == "ci":
            for command in block.commands:
                assert command in ci, f"{block.page}:{block.line}: `{command}` is not in .ci/run"
        else:
            assert (block.page, block.name) in run_by_tests, (
                f"{block.page}:{block.line}: no test runs DocScript({block.page!r}, {block.name!r}, ...)"
            )


def test_commands_are_read_as_a_shell_reads_them() -> None:
    body = 'a --x 1 \\\n    --y "p # q"   # a comment\n# only a comment\n\nb c#d\n'
    assert split_commands(body) == ('a --x 1 --y "p # q"', "b c#d")


def test_the_readme_is_a_quickstart() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) < 12_000
    for page in re.findall(r"\]\((docs/[\w.-]+\.md)", readme):
        assert (REPO / page).exists(), page
    for word in ("promoted", "rejected", "blocked", "needs_review", "not_retrained", "bootstrap"):
        assert f"`{word}`" in readme  # the words of a decision, defined where the demo prints them


@pytest.mark.parametrize("root", [GateConfig, FleetFile], ids=["gate.yaml", "fleet.yaml"])
def test_every_config_key_is_described_and_in_the_generated_reference(root: type[BaseModel]) -> None:
    reference = config_reference(root)
    for path, model in config_sections(root):
        for name, field in model.model_fields.items():
            assert field.description, f"{path}{name} has no docstring"
            assert f"| `{path}{name}` |" in reference


@pytest.mark.parametrize("root", [GateConfig, FleetFile], ids=["gate.yaml", "fleet.yaml"])
def test_the_parameter_schema_describes_every_key(root: type[BaseModel]) -> None:
    # the schema Prefect shows beside a deployment's parameters: the same docstrings as the reference
    schema = root.model_json_schema()
    defs = schema.get("$defs", {})
    for name, part in [(root.__name__, schema), *defs.items()]:
        for key, field in part.get("properties", {}).items():
            # pydantic leaves a section's description on its definition when it is the section's own
            section = defs.get(field.get("$ref", "").rpartition("/")[2], {})
            described = field.get("description") or section.get("description")
            assert described, f"{name}.{key} has no description in the JSON schema"


def test_attribute_docstrings_are_read_as_pydantic_reads_them() -> None:
    from pydantic._internal._docs_extraction import extract_docstrings_from_cls

    for root in (GateConfig, FleetFile):
        for path, model in config_sections(root):
            theirs: dict[str, str] = {}
            for klass in reversed(model.__mro__):
                if issubclass(klass, BaseModel) and klass.__module__.startswith("gatekeeper"):
                    theirs.update(extract_docstrings_from_cls(klass, use_inspect=True))
            for name, field in model.model_fields.items():
                assert name in theirs, f"{path}{name}: pydantic finds no docstring"
                assert field.description == theirs[name], f"{path}{name}"


def test_every_example_config_in_the_docs_loads() -> None:
    configs = 0
    for page in PAGES:
        for body in re.findall(r"```yaml\n(.*?)```", (REPO / page).read_text(), re.S):
            raw = yaml.safe_load(body)
            if isinstance(raw, dict) and "model_name" in raw:
                parse_config(raw, source=page)
                configs += 1
            elif isinstance(raw, dict) and "fleet" in raw:
                FleetFile.model_validate(raw)
                configs += 1
    assert configs >= 2
    for path in (REPO / "examples").rglob("*.yaml"):
        raw = yaml.safe_load(path.read_text())
        if "fleet" in raw:
            FleetFile.model_validate(raw)
        else:
            parse_config(raw, source=str(path))


def test_generated_pages_are_marked_and_unknown_markers_refused() -> None:
    text = "".join((REPO / "docs" / p).read_text() for p in ("configuration.md", "cli.md"))
    for name in GENERATED:
        assert f"<!-- generated: {name} -->" in text
    assert "usage: gatekeeper approve" in expand("<!-- generated: cli-reference -->")
    with pytest.raises(ValueError, match="unknown generated reference 'nope'"):
        expand("<!-- generated: nope -->")


def _record_keys(cls: type, prefix: str = "") -> set[str]:
    """Every key a decision.json can hold: the dataclass fields, and the fields of records inside."""
    keys = set()
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        keys.add(field.name)
        for arg in [hints[field.name], *typing.get_args(hints[field.name])]:
            for inner in [arg, *typing.get_args(arg)]:
                if dataclasses.is_dataclass(inner) and inner is not cls:
                    keys |= _record_keys(typing.cast(type, inner))
    return keys


def test_decision_json_reference_names_every_key() -> None:
    page = (Path(REPO) / "docs" / "decision-json.md").read_text()
    missing = sorted(
        key for key in _record_keys(Decision) if f"`{key}`" not in page and f'"{key}"' not in page
    )
    assert missing == []
