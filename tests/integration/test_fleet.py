"""A fleet in one run, with real parts: one model per `market` of generated tables (each market its
own world and fault), first champions by a fleet run, then the fleet's batch through the real flow on
threads, each model also gated alone from the same registry, and the fleet again on a Dask
LocalCluster through `compute:` (the CLI, as a user runs it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.decide.decision import decision_to_dict
from gatekeeper.demo.fleet import gate_keys, write_market_tables
from gatekeeper.report.fleet import FleetResult
from gatekeeper.report.markdown import artifact_key
from tests.integration.bootstraps import clone_workdir
from tests.integration.helpers import (
    aliases,
    finish_all,
    mlflow_client,
    read_artifacts,
    read_flow_run,
    read_task_run_names,
    run_gate,
    spawn,
)

MARKETS = {"m-a": "shifted", "m-b": "broken", "m-c": "key-hurt", "m-d": "steady"}


@dataclass
class Fleet:
    root: Path
    booted: Path  # the workdir after the first champions: cloned for every other run
    fleet_file: Path
    result: FleetResult
    workdir: Path


def fleet_yaml(
    path: Path, tables: dict[str, Path], batch: str, compute: dict[str, Any] | None = None
) -> Path:
    gate = gate_keys(tables["train"].parent)
    gate["data"] = {
        "train": str(tables["train"]),
        "new_labels": str(tables[batch]),
        "evaluation": str(tables["evaluation"]),
    }
    spec: dict[str, Any] = {
        "name": path.stem,
        "per_value": {"column": "market", "model_name": "fleet-{value}"},
    }
    if compute:
        spec["compute"] = compute
    path.write_text(yaml.safe_dump({"fleet": spec, "gate": gate}))
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    from flows.fleet import run_fleet

    root = tmp_path_factory.mktemp("fleet")
    tables = write_market_tables(root / "tables", MARKETS, rows=3_000, seed=5)
    booted = root / "booted"
    first = run_fleet(str(fleet_yaml(root / "boot.yaml", tables, "boot")), str(booted))
    assert {o.model_name: o.status for o in first.outcomes} == {f"fleet-{m}": "bootstrap" for m in MARKETS}
    workdir = root / "threads"
    clone_workdir(booted, workdir)
    path = fleet_yaml(root / "nightly.yaml", tables, "batch", {"engine": "threads", "max_parallel": 2})
    return Fleet(root, booted, path, run_fleet(str(path), str(workdir)), workdir)


def by_model(result: FleetResult) -> dict[str, dict[str, Any]]:
    return {o.model_name: decision_to_dict(o.decision) for o in result.outcomes if o.decision is not None}


def test_each_model_is_decided_as_its_own_run_decides_it(fleet: Fleet) -> None:
    from gatekeeper.fleet import load_fleet, per_value_configs

    together = by_model(fleet.result)
    assert set(together) == {f"fleet-{m}" for m in MARKETS}
    kinds = {together[f"fleet-{m}"]["decision"] for m in MARKETS}
    assert {"promoted", "blocked", "rejected"} <= kinds, kinds  # a mixed night
    assert together["fleet-m-b"]["decision"] == "blocked"
    assert any("x3" in r["message"] for r in together["fleet-m-b"]["reasons"])
    spec, base = load_fleet(fleet.fleet_file)
    alone_dir = fleet.root / "alone"
    clone_workdir(fleet.booted, alone_dir)
    for config in per_value_configs(spec, base, sorted(MARKETS), workdir=str(alone_dir)):
        alone = run_gate(config)  # the model's config alone: `data.where` selects its market's rows
        mine = together[config.model_name]
        assert alone["decision"] == mine["decision"], config.model_name
        assert [r["check"] for r in alone["reasons"]] == [r["check"] for r in mine["reasons"]]
        if mine["overall"]:
            assert alone["overall"]["delta"] == pytest.approx(mine["overall"]["delta"], abs=1e-12)


def test_only_promoted_models_move_and_a_blocked_batch_is_kept(fleet: Fleet) -> None:
    from gatekeeper.fleet import load_fleet, per_value_configs

    spec, base = load_fleet(fleet.fleet_file)
    for config in per_value_configs(spec, base, sorted(MARKETS), workdir=str(fleet.workdir)):
        outcome = next(o for o in fleet.result.outcomes if o.model_name == config.model_name)
        assert outcome.decision is not None
        champion = aliases(config)["champion"]
        if outcome.decision.decision == "promoted":
            assert champion == outcome.decision.candidate_version == "2"
        else:
            assert champion == "1"
        if outcome.decision.candidate_version:  # every judged candidate stays registered, with why
            tags = (
                mlflow_client(config)
                .get_model_version(config.model_name, outcome.decision.candidate_version)
                .tags
            )
            assert tags["gate.decision"] == outcome.decision.decision
        if outcome.decision.decision == "blocked":
            assert outcome.decision.quarantine
            assert Path(outcome.decision.quarantine).exists()


def test_the_run_shows_what_needs_a_person_in_the_ui(fleet: Fleet) -> None:
    run_id = next(o.decision.prefect_flow_run_id for o in fleet.result.outcomes if o.decision is not None)
    assert run_id
    run = read_flow_run(run_id)
    assert run.state.name == "NeedsAPerson"  # a blocked market needs a person
    assert "blocked" in run.state.message
    [table] = read_artifacts("fleet-nightly-models", run_id)
    rows = json.loads(table.data)
    assert rows[0]["decision"] in ("blocked", "needs_review", "error")  # what needs a person first
    assert {r["model"] for r in rows} == {f"fleet-{m}" for m in MARKETS}
    [report] = read_artifacts("fleet-nightly", run_id)
    assert "Benjamini-Hochberg" in report.data
    [progress] = read_artifacts("fleet-nightly-progress", run_id)  # models judged out of all
    assert progress.data == 100.0
    for market in MARKETS:  # each model's own report, as a single run publishes it
        assert read_artifacts(artifact_key(f"fleet-{market}"), run_id)
    # each model is two task runs (its stages run inside them), plus the fleet's own four
    names = read_task_run_names(run_id)
    models = sorted(f"{step}-fleet-{m}" for m in MARKETS for step in ("judge", "settle"))
    assert [n for n in names if n.startswith(("judge-", "settle-"))] == models
    assert len(names) == len(models) + 4, names


def test_a_model_that_fails_is_its_own_row_and_the_others_are_decided(tmp_path: Path, fleet: Fleet) -> None:
    from flows.fleet import run_fleet

    tables = {t: fleet.root / "tables" / f"{t}.parquet" for t in ("train", "boot", "batch", "evaluation")}
    gate = gate_keys(tables["train"].parent)
    gate["data"] = {
        "train": str(tables["train"]),
        "new_labels": str(tables["boot"]),
        "evaluation": str(tables["evaluation"]),
    }
    models = [
        {"model_name": "fine", "data": {"where": {"market": "m-a"}}},
        {"model_name": "lost", "data": {"where": {"market": "m-a"}, "train": str(tmp_path / "gone.parquet")}},
    ]
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump({"fleet": {"name": "two", "models": models}, "gate": gate}))
    result = run_fleet(str(path), str(tmp_path / "w"))
    status = {o.model_name: o for o in result.outcomes}
    assert status["fine"].status == "bootstrap"
    assert status["lost"].status == "error"
    assert "gone.parquet" in (status["lost"].error or "")
    assert result.state_name() == "NeedsAPerson"


@pytest.mark.parametrize(
    "compute",
    [{"engine": "dask", "n_workers": 2, "memory_limit": "2GiB"}, {"engine": "processes", "max_parallel": 2}],
    ids=["dask", "processes"],
)
def test_the_same_fleet_elsewhere_decides_the_same(tmp_path: Path, fleet: Fleet, compute: dict) -> None:
    """`compute: {engine: dask}`: prefect-dask's DaskTaskRunner on a LocalCluster of two worker
    processes; `compute: {engine: processes}`: Prefect's process pool of two spawned workers; each
    started by the CLI as a user runs it."""
    workdir = tmp_path / compute["engine"]
    clone_workdir(fleet.booted, workdir)
    tables = {t: fleet.root / "tables" / f"{t}.parquet" for t in ("train", "boot", "batch", "evaluation")}
    path = fleet_yaml(tmp_path / "nightly.yaml", tables, "batch", compute)
    [(code, out, err)] = finish_all([spawn(["run", "--config", str(path), "--workdir", str(workdir)])])
    assert code == 0, err[-3000:]
    together = by_model(fleet.result)
    for market in MARKETS:
        name = f"fleet-{market}"
        decided = workdir / "decisions" / f"{name}.json"
        assert decided.exists(), f"{name} has no decision (an error row?):\n{out[-4000:]}\n{err[-4000:]}"
        elsewhere = json.loads(decided.read_text())
        assert elsewhere["decision"] == together[name]["decision"], name
        assert [r["check"] for r in elsewhere["reasons"]] == [r["check"] for r in together[name]["reasons"]]
    assert (workdir / "decisions" / "fleet-nightly.md").exists()


def test_a_stage_run_inline_keeps_its_retry_policy() -> None:
    """Inside a fleet's judge and settle tasks, the gate's tasks are calls, not task runs: a transient
    failure is still retried as the task says, any other raised at once, a lasting one after the
    retries. (Here, not in the unit suite: that does not import Prefect.)"""
    from tasks import _INLINE, gate_task, retry_if, stages_inline

    calls: list[str] = []
    transient = retry_if(lambda exc: isinstance(exc, OSError))

    @gate_task(retries=2, retry_delay_seconds=[0, 0], retry_condition_fn=transient)
    def read(kind: str) -> str:
        calls.append(kind)
        if (kind == "blinks" and len(calls) < 3) or kind == "down":
            raise OSError("the share is not there")
        if kind == "broken":
            raise ValueError("no such column")
        return f"read after {len(calls)} call(s)"

    with stages_inline():
        assert read("blinks") == "read after 3 call(s)"
        for kind, error, tries in (("broken", ValueError, 1), ("down", OSError, 3)):
            calls.clear()
            with pytest.raises(error):
                read(kind)
            assert calls == [kind] * tries
    assert not _INLINE.get()
