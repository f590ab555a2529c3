"""`gatekeeper compare-scores`: offline comparison from a file of scores, no heavy frameworks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import pytest

from cli import main
from gatekeeper.vocabulary import SegmentStatus


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 20_000
    seg = rng.choice(list("abcde"), n)
    y = rng.integers(0, 2, n)
    z = 1.0 * y + rng.normal(0, 1, n)
    champion = 1 / (1 + np.exp(-(z + rng.normal(0, 0.6, n))))
    broken = z.copy()
    broken[seg == "c"] = rng.normal(0, 1, int((seg == "c").sum()))  # the candidate lost the signal in c
    candidate = 1 / (1 + np.exp(-(broken + rng.normal(0, 0.4, n))))
    path = tmp_path_factory.mktemp("scores") / "shadow.csv"
    pd.DataFrame({"label": y, "seg": seg, "old": champion, "new": candidate}).to_csv(path, index=False)
    return path


def test_writes_decision_structure_with_intervals(scores: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    args = [
        "compare-scores",
        "--scores",
        str(scores),
        "--label",
        "label",
        "--champion",
        "old",
        "--candidate",
        "new",
        "--segments",
        "seg",
        "--metric",
        "roc_auc,accuracy",
        "--key",
        "seg=c",
        "--output",
        str(out),
    ]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["decision"] == "rejected"
    assert {"segment": "seg=c", "check": "key_segment_regression"}.items() <= next(
        r for r in result["reasons"] if r["segment"] == "seg=c"
    ).items()
    assert result["correction"] == "holm"
    for row in [result["overall"], *result["segments"]]:
        assert {"ci_low", "ci_high", "status", "delta"} <= set(row)
        assert row["status"] in set(get_args(SegmentStatus)) - {"baseline"}
    assert "accuracy" in result["segments"][0]["secondary"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--label", "lable"], "--label must name a column.*did you mean 'label'"),
        (["--metric", "auc"], r"`primary_metric`.*got 'auc'"),
        (["--key", "segc"], "--key must look like 'col=value'"),
        (["--champion", "seg"], "could not convert|must hold probabilities"),
        (["--time-column", "day"], "--time-column must name a column.*got 'day'"),
        (["--cluster-column", "custmer"], "--cluster-column must name a column.*got 'custmer'"),
    ],
    ids=["typo-column", "bad-metric", "bad-key", "non-probability", "no-time-column", "no-cluster-column"],
)
def test_bad_options_are_named(scores: Path, tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    base = {"--label": "label", "--champion": "old", "--candidate": "new", "--metric": "roc_auc"}
    args = ["compare-scores", "--scores", str(scores), "--output", str(tmp_path / "o.json")]
    for flag, value in base.items():
        args += [flag, extra[1] if extra[0] == flag else value]
    if extra[0] in ("--key", "--time-column", "--cluster-column"):
        args += extra
    assert main(args) == 1
    import re

    assert re.search(message, capsys.readouterr().err)


def test_starts_without_prefect_mlflow_or_great_expectations(scores: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from cli import main; "
        f"rc = main(['compare-scores', '--scores', {str(scores)!r}, '--label', 'label', '--champion', 'old', "
        f"'--candidate', 'new', '--output', {str(tmp_path / 'o.json')!r}]); "
        "heavy = [m for m in ('prefect', 'mlflow', 'great_expectations') if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(rc or (1 if heavy else 0))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "HEAVY []" in result.stdout


def test_the_core_compare_scores_rejects_a_planted_regression_without_the_cli(scores: Path) -> None:
    from gatekeeper.decide.scores import compare_scores, options_policy
    from gatekeeper.errors import ConfigError

    frame = pd.read_csv(scores)

    def policy(key: str) -> object:
        return options_policy(
            metrics=["roc_auc"], segments=["seg"], keys=[key], max_regression=0.0, min_improvement=0.0,
            min_segment_rows=200, level=0.95, resamples=300, seed=0, correction="holm",
        )  # fmt: skip

    common = {"source": str(scores), "label": "label", "champion": "old", "candidate": "new"}
    broken = compare_scores(frame, policy=policy("seg=c"), **common)  # type: ignore[arg-type]
    assert broken.decision == "rejected"
    assert ("key_segment_regression", "seg=c") in [(r.check, r.segment) for r in broken.reasons]
    healthy = compare_scores(frame, policy=policy("seg=a"), **common)  # type: ignore[arg-type]
    assert next(s for s in healthy.segments if s.segment == "seg=a").status == "improved"
    with pytest.raises(ConfigError, match=r"--key must name a column of .*got 'sgе'"):
        compare_scores(frame, policy=policy("sgе=a"), **common)  # type: ignore[arg-type]


@pytest.mark.parametrize("positive", ["churned", "stayed"], ids=["first-sorted", "second-sorted"])
def test_the_score_columns_are_read_as_the_named_positive_class(positive: str) -> None:
    """A column of P(positive) is that class's probability whichever place it sorts to (it was read as
    the second class's, so naming the first sorted class as positive inverted every AUC)."""
    from gatekeeper.decide.scores import compare_scores, options_policy

    rng = np.random.default_rng(1)
    y = rng.random(4000) < 0.3
    is_positive = y if positive == "churned" else ~y
    score = 1 / (1 + np.exp(-(2.0 * is_positive + rng.normal(0, 1, 4000) - 1)))
    frame = pd.DataFrame({"label": np.where(y, "churned", "stayed"), "old": score, "new": score})
    policy = options_policy(
        metrics=["roc_auc"], segments=[], keys=[], max_regression=0.0, min_improvement=0.0,
        min_segment_rows=200, level=0.95, resamples=200, seed=0, correction="holm",
    )  # fmt: skip
    decision = compare_scores(
        frame,
        source="s",
        label="label",
        champion="old",
        candidate="new",
        policy=policy,
        positive_label=positive,
    )
    assert decision.overall is not None
    assert decision.overall.candidate > 0.8


@pytest.fixture(scope="module")
def mixed_frame() -> pd.DataFrame:
    """Every kind of segment column: text with missing values, integers, floats, booleans."""
    rng = np.random.default_rng(2)
    n = 6000
    y = rng.integers(0, 2, n)
    z = 1.0 * y + rng.normal(0, 1, n)
    text = rng.choice(["north", "south", "éast", "West"], n).astype(object)
    text[:500] = None
    code = rng.integers(0, 12, n) * 7
    return pd.DataFrame(
        {
            "label": np.where(y == 1, "churned", "stayed"),
            "y": y,
            "region": text,
            "code": code,
            "ratio": rng.integers(0, 3, n) * 1.5,
            "flag": code > 30,
            "tier": pd.Categorical(rng.choice(["low", "mid", "high"], n), categories=["low", "mid", "high"]),
            "old": 1 / (1 + np.exp(-(z + rng.normal(0, 0.8, n)))),
            "new": 1 / (1 + np.exp(-(z + rng.normal(0, 0.5, n)))),
        }
    )


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
@pytest.mark.parametrize(
    ("label", "segments", "keys"),
    [
        ("label", ["region", "code"], ["region=<missing>", "code=14", "region=south&code=21"]),
        ("y", ["ratio", "flag", "tier", ["region", "code"]], ["ratio=1.5", "flag=True", "tier=mid"]),
    ],
    ids=["text-and-integers", "floats-booleans-categoricals-intersections"],
)
def test_reading_through_arrow_means_what_reading_through_pandas_meant(
    mixed_frame: pd.DataFrame, tmp_path: Path, suffix: str, label: str, segments: list, keys: list[str]
) -> None:
    """The same decision, segment for segment and interval for interval, whichever way a file is read:
    Arrow for text and integer columns, pandas for the rest (Parquet in row groups whose text
    dictionaries differ)."""
    from gatekeeper.data.tables import read_table
    from gatekeeper.decide.decision import decision_to_json
    from gatekeeper.decide.scores import compare_scores, options_policy, read_and_compare_scores

    path = tmp_path / f"scores.{suffix}"
    if suffix == "parquet":
        mixed_frame.to_parquet(path, row_group_size=700)
    else:
        mixed_frame.to_csv(path, index=False)
    policy = options_policy(
        metrics=["roc_auc", "accuracy", "f1"], segments=segments, keys=keys, max_regression=0.0,
        min_improvement=0.0, min_segment_rows=100, level=0.95, resamples=200, seed=0, correction="holm",
    )  # fmt: skip
    common = {"label": label, "champion": "old", "candidate": "new", "policy": policy}
    by_pandas = json.loads(
        decision_to_json(compare_scores(read_table(str(path)), source=str(path), **common))
    )
    by_arrow = json.loads(decision_to_json(read_and_compare_scores(str(path), **common)))
    for record in (by_pandas, by_arrow):
        record.pop("created_at", None)
    assert by_arrow == by_pandas
    assert len(by_arrow["segments"]) > 10


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_a_local_file_is_compared_without_importing_pandas(
    mixed_frame: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"scores.{suffix}"
    mixed_frame.to_parquet(path) if suffix == "parquet" else mixed_frame.to_csv(path, index=False)
    code = (
        "import sys; from cli import main; "
        f"rc = main(['compare-scores', '--scores', {str(path)!r}, '--label', 'label', '--champion', 'old', "
        "'--candidate', 'new', '--segments', 'region,code', '--key', 'region=south', "
        f"'--output', {str(tmp_path / 'o.json')!r}]); "
        "print('PANDAS', 'pandas' in sys.modules); sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "PANDAS False" in result.stdout


def _timed_scores(path: Path, rng: np.random.Generator) -> pd.DataFrame:
    """Scores whose two models' advantage moves with a regime lasting ~100 rows, one row a minute,
    written shuffled (the file's order says nothing), with an entity of 20 rows in time."""
    from gatekeeper.demo.worlds import lasting_regime

    n = 8_000
    r = lasting_regime(n, 0.99, rng)
    y = (rng.random(n) < 0.5).astype(int)
    sign = np.where(y == 1, 1.0, -1.0)
    frame = pd.DataFrame(
        {
            "minute": np.arange(n),
            "customer": np.arange(n) // 20,
            "label": y,
            "new": 1 / (1 + np.exp(-sign * (0.8 + 0.6 * r + rng.normal(0, 1, n)))),
            "old": 1 / (1 + np.exp(-sign * (0.9 - 0.6 * r + rng.normal(0, 1, n)))),
        }
    ).sample(frac=1.0, random_state=1)
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.parametrize(
    ("flags", "method"),
    [
        ([], None),  # shuffled file, no column: rows one by one
        (["--time-column", "minute"], "time blocks of"),
        (["--cluster-column", "customer"], "400 clusters"),
    ],
    ids=["rows", "time", "entities"],
)
def test_the_time_and_entity_columns_reach_the_command(tmp_path: Path, flags: list[str], method) -> None:
    path = tmp_path / "timed.csv"
    _timed_scores(path, np.random.default_rng(2))
    out = tmp_path / "o.json"
    args = ["compare-scores", "--scores", str(path), "--label", "label", "--champion", "old"]
    assert main([*args, "--candidate", "new", "--output", str(out), *flags]) == 0
    result = json.loads(out.read_text())
    overall = result["overall"]["method"]
    if method is None:
        assert "bootstrap over" not in overall, overall
    else:
        assert method in overall, overall
    assert bool(result["time_folds"]) == ("--time-column" in flags)
