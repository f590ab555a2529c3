"""`compare-scores --engine dask` on a real Dask LocalCluster (2 worker processes) over a Parquet
dataset of several files: the same decision as the single-machine engine, the planted fault named,
and bad input refused with the field named."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatekeeper.decide.on_dask import DaskCompute, compare_scores_on_dask
from gatekeeper.decide.scores import compare_scores, options_policy
from gatekeeper.errors import ConfigError, DataValidationError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """One LocalCluster for the module (two worker processes, a memory limit each)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB", dashboard_address=None) as c:
        yield c.scheduler_address


def write_dataset(folder: Path, seed: int, files: int = 6) -> tuple[pd.DataFrame, str]:
    """Scores of two models; in one random plan (the planted fault) the candidate ranks at random."""
    rng = np.random.default_rng(seed)
    n = 40_000
    plan = rng.choice(["basic", "plus", "pro", "family", "student"], n, p=[0.4, 0.25, 0.2, 0.1, 0.05])
    y = rng.random(n) < 0.25
    signal = 1.2 * y + rng.normal(0, 1, n)
    champion = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.9, n) - 1)))
    candidate = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.5, n) - 1)))
    broken = str(rng.choice(["plus", "pro", "family"]))
    candidate[plan == broken] = rng.random(int((plan == broken).sum()))
    frame = pd.DataFrame(
        {"label": np.where(y, "churned", "stayed"), "plan": plan, "old": champion, "new": candidate}
    )
    folder.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(n), files)):
        frame.iloc[rows].to_parquet(folder / f"part-{i:03d}.parquet")
    return frame, broken


def policy(broken: str):
    return options_policy(
        metrics=["roc_auc", "log_loss", "f1"],
        segments=["plan"],
        keys=[f"plan={broken}", "plan=student"],
        max_regression=0.01,
        min_improvement=0.0,
        min_segment_rows=200,
        level=0.95,
        resamples=1000,
        seed=0,
        correction="holm",
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_dask_gives_the_local_engines_decision(tmp_path: Path, scheduler: str, seed: int) -> None:
    frame, broken = write_dataset(tmp_path / "scores", seed)
    config = policy(broken)
    shared = {"label": "label", "champion": "old", "candidate": "new", "policy": config}
    local = compare_scores(frame, source="scores", positive_label="churned", **shared)
    on_dask = compare_scores_on_dask(
        str(tmp_path / "scores"), compute=DaskCompute(address=scheduler), positive_label="churned", **shared
    )
    assert on_dask.decision == local.decision
    assert sorted((r.check, r.segment) for r in on_dask.reasons) == sorted(
        (r.check, r.segment) for r in local.reasons
    )
    assert any(r.segment == f"plan={broken}" for r in on_dask.reasons)
    assert on_dask.overall is not None
    assert local.overall is not None
    assert abs(on_dask.overall.candidate - local.overall.candidate) < 1e-3


def test_a_glob_and_bad_input_are_read_or_refused_by_name(tmp_path: Path, scheduler: str) -> None:
    _, broken = write_dataset(tmp_path / "scores", 3)
    compute = DaskCompute(address=scheduler)
    shared = {"label": "label", "champion": "old", "policy": policy(broken), "compute": compute}
    found = compare_scores_on_dask(str(tmp_path / "scores" / "part-00*.parquet"), candidate="new", **shared)
    assert found.decision in ("rejected", "needs_review", "promoted")
    with pytest.raises(
        ConfigError, match=r"--candidate must name a column .*got 'nwe' \(did you mean 'new'\?\)"
    ):
        compare_scores_on_dask(str(tmp_path / "scores"), candidate="nwe", **shared)
    with pytest.raises(DataValidationError, match=r"--candidate column 'plan'|--candidate column"):
        compare_scores_on_dask(str(tmp_path / "scores"), candidate="label", **shared)


def test_the_cli_runs_the_dask_engine_on_its_own_local_cluster(tmp_path: Path) -> None:
    _, broken = write_dataset(tmp_path / "scores", 4)
    out = tmp_path / "decision.json"
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())", "compare-scores",
         "--scores", str(tmp_path / "scores"), "--label", "label", "--champion", "old", "--candidate", "new",
         "--positive-label", "churned", "--segments", "plan", "--key", f"plan={broken}",
         "--engine", "dask", "--workers", "2", "--memory-limit", "1GiB", "--output", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.exists()
    assert f"plan={broken}" in out.read_text()
