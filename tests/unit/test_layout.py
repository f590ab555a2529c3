"""The shape of the code: the core is framework-free, imports go one way, modules stay small."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import gatekeeper

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "gatekeeper"
OUTER = ("flows", "tasks", "cli")
MAX_LINES = 400


def core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(gatekeeper.__path__, "gatekeeper."))


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_core_never_imports_flows_tasks_or_the_cli() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in imported_modules(path) if n.split(".")[0] in OUTER)
        for path in CORE.rglob("*.py")
    }
    assert {p: names for p, names in offenders.items() if names} == {}


def test_tasks_never_import_flows_or_the_cli() -> None:
    for path in (ROOT / "tasks").rglob("*.py"):
        assert not [n for n in imported_modules(path) if n.split(".")[0] in ("flows", "cli")], path


def test_no_core_module_is_over_400_lines() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in CORE.rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > MAX_LINES} == {}


def test_importing_every_core_module_loads_no_prefect_mlflow_or_gx() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {core_modules()!r}: importlib.import_module(name)\n"
        "heavy = [m for m in ('prefect', 'mlflow', 'great_expectations') if m in sys.modules]\n"
        "print(heavy); sys.exit(1 if heavy else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(core_modules()) > 30  # the walk found the stage packages, not just the top level


def test_the_cli_starts_without_prefect_mlflow_or_gx() -> None:
    code = (
        "import sys; from cli import build_parser; build_parser()\n"
        "heavy = [m for m in ('prefect', 'mlflow', 'great_expectations') if m in sys.modules]\n"
        "print(heavy); sys.exit(1 if heavy else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# The floors, lowest first (CONVENTIONS "Floors"): a module imports only from its own floor or below.
FLOORS = [
    ("vocabulary", "errors", "serialize", "findings", "uris", "engines"),
    ("metrics", "ranking"),
    ("stats",),
    ("config", "config_errors", "config_sections", "fleet"),
    ("data",),
    ("train",),
    ("compare",),
    ("triage",),
    ("decide",),
    ("registry", "report"),
    ("demo",),
]


def _floor(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "gatekeeper" or len(parts) < 2:
        return None
    return next((i for i, names in enumerate(FLOORS) if parts[1] in names), None)


def test_every_core_module_is_on_a_floor_and_imports_nothing_above_it() -> None:
    unplaced, upward = [], []
    for path in CORE.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module == "gatekeeper":
            continue
        own = _floor(module)
        if own is None:
            unplaced.append(module)
            continue
        for name in imported_modules(path):
            floor = _floor(name)
            if floor is not None and floor > own:
                upward.append(f"{module} ({FLOORS[own][0]}) imports {name} ({FLOORS[floor][0]})")
    assert unplaced == []
    assert sorted(upward) == []
