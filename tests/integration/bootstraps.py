"""One real bootstrap per demo model per test session (per xdist worker), copied into each test's
workdir.

A bootstrap is the demo's first gate run through the real flow: Great Expectations validates the
tables, a champion is trained, logged and registered in the MLflow sqlite registry (version 1,
alias `champion`), the decision is recorded. Many tests start from exactly that state and then do
what they are about. The run is done once per model name (the gate's records name the model, so a
copy cannot be renamed); each test gets a copy of its workdir (the sqlite file, the artifacts, the
bootstrap's tables and locks), which takes milliseconds. The registry in the copy names the copy's
paths: every absolute path of the original workdir stored in it (the experiment's artifact location,
the runs' artifact URIs, the config's params) is rewritten to the copy's.
"""

from __future__ import annotations

import copy
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from gatekeeper.config import GateConfig
from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config

_ROOT: list[Path] = []  # set once per session by tests/integration/conftest.py
_DONE: dict[str, tuple[Path, dict[str, Any]]] = {}


def set_root(root: Path) -> None:
    _ROOT[:] = [root]


def bootstrapped(model: str, workdir: Path) -> tuple[dict[str, Any], GateConfig]:
    """`workdir` holds a registry whose `model` has its bootstrap champion (version 1); returns the
    bootstrap's decision (as the real run returned it) and its config, pointed at `workdir`."""
    from tests.integration.helpers import run_gate

    if model not in _DONE:
        if not _ROOT:
            raise RuntimeError("tests/integration/conftest.py did not set the bootstraps' folder")
        source = _ROOT[0] / f"{model}.bootstrap"
        world = _world(model)
        config = demo_config(model, simulate.write_bootstrap(source / "boot", scenario=world), source, world)
        first = run_gate(config)
        assert first["decision"] == "bootstrap", first["reasons"]
        _DONE[model] = (source, first)
    source, first = _DONE[model]
    clone_workdir(source, workdir)
    tables = (workdir / "boot" / f"{name}.parquet" for name in ("train", "new_labels", "evaluation"))
    files = simulate.ScenarioFiles(*tables)
    # a test may edit its own copy
    return copy.deepcopy(first), demo_config(model, files, workdir, _world(model))


def _world(model: str) -> str | None:
    """The scenario with a world of its own that `demo-<scenario>` names (None: the fraud demo's)."""
    from gatekeeper.demo.worlds import WORLD_SCENARIOS

    scenario = model.removeprefix("demo-")
    return scenario if scenario in WORLD_SCENARIOS else None


def clone_workdir(source: Path, dest: Path) -> None:
    """Copy a gate workdir; the copy's MLflow registry names the copy's paths, not the source's."""
    source, dest = source.resolve(), dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    if (dest / "mlflow.db").exists():
        raise FileExistsError(f"{dest} already holds a registry; a bootstrap is copied into a fresh workdir")
    shutil.copytree(source, dest, dirs_exist_ok=True)
    with closing(sqlite3.connect(dest / "mlflow.db")) as db, db:  # closed, after one commit
        old, new = str(source), str(dest)
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for _, column, kind, *_ in db.execute(f'PRAGMA table_info("{table}")').fetchall():
                if any(word in str(kind).upper() for word in ("CHAR", "TEXT", "CLOB")):
                    db.execute(
                        f'UPDATE "{table}" SET "{column}" = REPLACE("{column}", ?, ?) '
                        f'WHERE instr("{column}", ?) > 0',
                        (old, new, old),
                    )
