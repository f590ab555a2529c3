"""The gate flow's run name comes from its parameters, never from re-reading a file."""

from __future__ import annotations

from pathlib import Path

from flows.retraining_gate import run_name_of
from tests.builders import make_config


def test_the_run_name_follows_the_parameters(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "gate.yaml"  # never opened: a name must not need the file
    assert run_name_of({"config": str(missing), "model_name": "bank"}) == "bank"
    assert run_name_of({"config": make_config()}) == "fraud-detector"
    assert run_name_of({"config": {"model_name": "from-a-dict"}}) == "from-a-dict"
    assert run_name_of({"config": str(missing)}) == "config-gate"
    assert run_name_of({}) == "model"
