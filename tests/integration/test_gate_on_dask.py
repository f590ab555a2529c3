"""The gate flow with `compute.engine: dask` on a real LocalCluster: the evaluation rows are a Parquet
dataset of several files, read lazily and checked, scored and compared partition by partition.
The decision and its reasons equal the local engine's on the same data, with the fault planted in
different places (a key segment the candidate hurts, a random partition's broken values)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gatekeeper.config import GateConfig
from gatekeeper.data.tables import read_table
from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config
from gatekeeper.errors import ConfigError
from tests.integration.bootstraps import bootstrapped
from tests.integration.helpers import run_gate


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """One LocalCluster for the module: two worker processes with a memory limit each."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB", dashboard_address=None) as c:
        yield c.scheduler_address


def as_dataset(csv: Path, folder: Path, files: int, seed: int) -> tuple[pd.DataFrame, str]:
    """The CSV's rows, shuffled, as `files` Parquet files in `folder`."""
    frame = read_table(str(csv))
    order = np.random.default_rng(seed).permutation(len(frame))
    folder.mkdir(parents=True)
    for i, rows in enumerate(np.array_split(order, files)):
        frame.iloc[np.sort(rows)].to_parquet(folder / f"part-{i:03d}.parquet", index=False)
    return frame, str(folder)


def write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def engines(
    tmp_path: Path, scenario: str, scheduler: str, seed: int, plant: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scenario gated twice from the same bootstrap (the session's, copied into two registries):
    engine local on the evaluation CSV, engine dask on the same rows as a Parquet dataset (optionally
    with `plant(frame)` applied first)."""
    decisions = []
    for engine in ("local", "dask"):
        work = tmp_path / engine
        model = "dask-pair"
        bootstrapped(model, work)
        files = simulate.write_scenario(scenario, work / "scenario")
        if plant is not None:
            plant(files.evaluation)
        config = demo_config(model, files, work, scenario)
        if engine == "dask":
            _, dataset = as_dataset(files.evaluation, work / "evaluation", 5, seed)
            config = config.model_copy(
                update={
                    "data": config.data.model_copy(update={"evaluation": dataset}),
                    "compute": GateConfig.model_fields["compute"].annotation.model_validate(  # type: ignore[union-attr]
                        {"engine": "dask", "address": scheduler}
                    ),
                }
            )
        if engine == "local":
            decisions.append(run_gate(config))
            continue
        from distributed import Client, get_task_stream

        with Client(scheduler) as client, get_task_stream(client) as stream:
            decisions.append(run_gate(config))
        ran = {str(task["key"]).split("-")[0].strip("('\"") for task in stream.data}
        decisions[-1]["_ran_on_dask"] = ran  # what the cluster computed, for the tests to check
    return decisions[0], decisions[1]


def reasons(decision: dict[str, Any]) -> list[tuple[str, str | None]]:
    return sorted((r["check"], r.get("segment")) for r in decision["reasons"])


BORDER = 0.005  # AUC: the engines' intervals differ by binning (< 1e-3) and resampling noise


def assert_same_reasons(local: dict[str, Any], on_dask: dict[str, Any]) -> None:
    """The same reasons on both engines, but for a segment whose interval's edge lies within BORDER of
    a line its status is read against (0, or its key segment's -max_regression) on either engine:
    there the two engines' resampling may fall either side, and that reason may differ."""
    differ = set(reasons(local)) ^ set(reasons(on_dask))
    for check, segment in sorted(differ, key=str):
        edges = []
        for decision in (local, on_dask):
            for s in [decision["overall"], *decision["segments"]]:
                if s.get("segment") == segment and s.get("ci_low") is not None:
                    lines = [0.0, -(s.get("max_regression") or 0.0)]
                    edges += [abs(s[e] - line) for e in ("ci_low", "ci_high") for line in lines]
        assert edges, (check, segment, "differs between engines and names no compared segment")
        assert min(edges) < BORDER, (check, segment, "differs between engines, not at a border")


@pytest.mark.parametrize("scenario", ["hurts-key-segment", "improves"])
def test_dask_engine_gives_the_local_decision(tmp_path: Path, scheduler: str, scenario: str) -> None:
    local, on_dask = engines(tmp_path, scenario, scheduler, seed=len(scenario))
    assert local["decision"] == on_dask["decision"]
    assert_same_reasons(local, on_dask)
    assert on_dask["decision"] == ("rejected" if scenario == "hurts-key-segment" else "promoted")
    # the work ran on the cluster: structure and suite per partition, both models scored there, both passes
    assert {"_partition_outcomes", "_score_partition", "count_partition", "histogram_partition"} <= (
        on_dask["_ran_on_dask"]
    ), on_dask["_ran_on_dask"]
    here = {(s["segment"], s["key"]): s for s in local["segments"]}
    assert sorted(here) == sorted((s["segment"], s["key"]) for s in on_dask["segments"])
    for found in [on_dask["overall"], *on_dask["segments"]]:  # binned AUC: the same to 1e-3
        theirs = local["overall"] if found is on_dask["overall"] else here[(found["segment"], found["key"])]
        assert found["n"] == theirs["n"]
        for side in ("champion", "candidate"):
            if theirs[side] is not None:
                assert abs(found[side] - theirs[side]) < 1e-3, (found["segment"], side)


@pytest.mark.parametrize("seed", [3, 11])
def test_a_fault_in_one_partition_blocks_on_both_engines(tmp_path: Path, scheduler: str, seed: int) -> None:
    """Values broken in a random stretch of rows (so in one or two of the dataset's files): the
    evaluation suite fails on both engines, on the same column, and nothing is promoted."""

    def plant(csv: Path) -> None:
        frame = read_table(str(csv))
        rng = np.random.default_rng(seed)
        column = str(rng.choice(["browser", "country"]))
        start = int(rng.integers(0, len(frame) - 600))
        frame.loc[start : start + 500, column] = "##garbled##"
        write(frame, csv)

    local, on_dask = engines(tmp_path, "improves", scheduler, seed, plant)
    assert local["decision"] == on_dask["decision"] == "blocked"
    failed = lambda d: sorted(  # noqa: E731
        (c["check"], c.get("column"), c.get("table")) for c in d["checks"] if c["effect"] == "block"
    )
    assert failed(local) == failed(on_dask)
    assert any(t == "evaluation" for _, _, t in failed(on_dask))
    assert "_partition_outcomes" in on_dask["_ran_on_dask"], on_dask["_ran_on_dask"]  # suite per partition


def test_an_expectation_on_the_whole_table_is_refused_before_reading(tmp_path: Path) -> None:
    import json

    from flows.retraining_gate import retraining_gate

    suites = tmp_path / "suites"
    suites.mkdir()
    spec = {
        "name": "whole",
        "expectations": [
            {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "amount", "min_value": 0}}
        ],
    }
    (suites / "whole.json").write_text(json.dumps(spec))
    files = simulate.write_bootstrap(tmp_path / "boot")
    config = demo_config("dask-refused", files, tmp_path).model_copy(
        update={
            "expectations": GateConfig.model_fields["expectations"].annotation.model_validate(  # type: ignore[union-attr]
                {"directory": str(suites), "train": "whole", "evaluation": "whole"}
            ),
            "compute": GateConfig.model_fields["compute"].annotation.model_validate(  # type: ignore[union-attr]
                {"engine": "dask", "address": "tcp://127.0.0.1:1"}
            ),
        }
    )
    with pytest.raises(ConfigError, match="expect_column_mean_to_be_between"):
        retraining_gate(config)


@pytest.mark.parametrize("fault", ["truncated", "garbage", "empty", "wrong-type", "csv-wrong-type"])
def test_one_corrupt_file_of_the_dataset_is_named_and_nothing_moves(
    tmp_path: Path, scheduler: str, fault: str
) -> None:
    """One file of the evaluation dataset truncated, garbage, empty or with a column of another
    type: one DataLoadError naming the file (or, for CSV read on the cluster, the partition's
    error), never an unexpected error; the champion stays."""
    from gatekeeper.errors import DataLoadError

    work = tmp_path / "work"
    model = "dask-pair"
    bootstrapped(model, work)
    files = simulate.write_scenario("improves", work / "scenario")
    config = demo_config(model, files, work, "improves")
    _, dataset = as_dataset(files.evaluation, work / "evaluation", 4, seed=5)
    bad = Path(dataset) / "part-002.parquet"
    if fault == "truncated":
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    elif fault == "garbage":
        bad.write_bytes(b"not parquet at all" * 100)
    elif fault == "empty":
        bad.write_bytes(b"")
    elif fault == "wrong-type":
        part = pd.read_parquet(bad)
        part["amount"] = part["amount"].astype(str) + "x"
        part.to_parquet(bad, index=False)
    else:  # CSV files: the types are only seen when the cluster parses the file
        folder = work / "evaluation-csv"
        folder.mkdir()
        for i, path in enumerate(sorted(Path(dataset).glob("*.parquet"))):
            part = pd.read_parquet(path)
            if i == 2:
                part["amount"] = "about ten"
            part.to_csv(folder / f"part-{i}.csv", index=False)
        dataset, bad = str(folder / "*.csv"), folder / "part-2.csv"
    config = config.model_copy(
        update={
            "data": config.data.model_copy(update={"evaluation": dataset}),
            "compute": GateConfig.model_fields["compute"].annotation.model_validate(  # type: ignore[union-attr]
                {"engine": "dask", "address": scheduler}
            ),
        }
    )
    with pytest.raises(DataLoadError) as caught:
        run_gate(config)
    message = str(caught.value)
    assert "\n" not in message
    assert "data.evaluation" in message
    if fault != "csv-wrong-type":
        assert str(bad) in message, message
    else:
        assert "amount" in message or "dtype" in message.lower(), message
    from tests.integration.helpers import aliases

    assert aliases(config)["champion"] == "1"
