from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.config import load_config, parse_config
from gatekeeper.errors import ConfigError
from tests.builders import make_config


def test_typo_in_top_level_key_names_key_and_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"`segmnets` is not a known key \(did you mean 'segments'\?\)"):
        make_config(segmnets=["browser"])


def test_typo_in_nested_key_names_its_path() -> None:
    with pytest.raises(ConfigError, match=r"key_segments\[0\]\.max_regresion.*did you mean 'max_regression'"):
        make_config(key_segments=[{"where": {"browser": "x"}, "max_regresion": 0.1}])


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ({"primary_metric": "auc"}, r"`primary_metric`.*got 'auc'"),
        ({"min_segment_rows": 0}, r"`min_segment_rows`.*greater than or equal to 1"),
        ({"segments": ["browser", []]}, r"segments\[1\] is an empty list"),
        ({"trainer": "not a path"}, r"`trainer`"),
        ({"key_segments": [{"where": {}}]}, r"key_segments\[0\]\.where"),
        ({"expectations": {}}, r"name a suite for `train` or `new_labels`"),
    ],
    ids=[
        "unknown-metric",
        "zero-min-rows",
        "empty-intersection",
        "bad-trainer-path",
        "empty-where",
        "no-suite",
    ],
)
def test_invalid_values_are_named(override: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        make_config(**override)


def test_missing_required_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"`target` is required"):
        parse_config(
            {
                "model_name": "m",
                "data": {"train": "a", "new_labels": "b", "evaluation": "c"},
                "expectations": {"train": "s"},
            }
        )


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "gate.yaml"
    path.write_text(
        "model_name: m\ntarget: y\n"
        "data: {train: data/t.csv, new_labels: s3://bucket/new.parquet, evaluation: /abs/e.csv}\n"
        "expectations: {directory: ../suites, train: s}\n"
    )
    config = load_config(path)
    assert config.data.train == str(tmp_path / "cfg" / "data" / "t.csv")
    assert config.data.new_labels == "s3://bucket/new.parquet"
    assert config.data.evaluation == "/abs/e.csv"
    assert config.expectations.directory == str(tmp_path / "suites")


def test_tracking_uri_defaults_to_sqlite_in_workdir_and_env_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = make_config(workdir=str(tmp_path))
    assert config.resolved_tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert config.resolved_tracking_uri == "http://127.0.0.1:5000"
    assert make_config(tracking_uri="sqlite:///x.db").resolved_tracking_uri == "sqlite:///x.db"


def test_missing_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_key_segment_name_and_segment_columns() -> None:
    config = make_config(
        segments=["browser", ["browser", "country"]],
        key_segments=[{"where": {"browser": "beta", "country": "US"}}],
    )
    assert config.segment_columns == [["browser"], ["browser", "country"]]
    assert config.key_segments[0].name == "browser=beta & country=US"


def test_regression_task_defaults_to_rmse_and_rejects_classification_metrics() -> None:
    raw = {
        "model_name": "m",
        "target": "y",
        "task": "regression",
        "data": {"train": "a", "new_labels": "b", "evaluation": "c"},
        "expectations": {"train": "s"},
    }
    assert parse_config(raw).primary_metric == "rmse"
    with pytest.raises(ConfigError, match=r"`primary_metric` 'roc_auc' does not fit task 'regression'"):
        parse_config({**raw, "primary_metric": "roc_auc"})
    with pytest.raises(
        ConfigError, match=r"`secondary_metrics\[0\]` 'mae' does not fit task 'classification'"
    ):
        make_config(secondary_metrics=["mae"])


@pytest.mark.parametrize(
    "uri",
    ["not a uri at all", "./mlruns", "file:///tmp/mlruns", "ftp://ana:s3cr3t@host/store"],
    ids=["garbage", "file-store-path", "file-uri", "unsupported-scheme"],
)
def test_a_tracking_uri_that_names_no_store_is_named_without_its_password(uri: str) -> None:
    with pytest.raises(ConfigError, match=r"`tracking_uri`: must be an MLflow tracking URI") as raised:
        make_config(tracking_uri=uri)
    assert "s3cr3t" not in str(raised.value)
    for good in ("sqlite:///x/mlflow.db", "http://127.0.0.1:5000", "postgresql+psycopg2://u@db/mlflow"):
        assert make_config(tracking_uri=good).tracking_uri == good


def test_a_positive_label_the_target_never_takes_is_named() -> None:
    import pandas as pd

    from gatekeeper.data.tables import GateTables, check_config_against

    frame = pd.DataFrame({"is_fraud": ["no", "yes", "no"], "browser": ["a", "chrome-beta", "a"]})
    tables = GateTables(frame, frame, frame, {}, {"train": "t", "new_labels": "n", "evaluation": "e"})
    with pytest.raises(
        ConfigError, match=r"`positive_label` must be a value of the target 'is_fraud'; got 'Yes'"
    ):
        check_config_against(make_config(positive_label="Yes"), tables)
    check_config_against(make_config(positive_label="yes"), tables)


def test_a_trainer_that_fails_when_called_is_named() -> None:
    import pandas as pd

    from gatekeeper.train.pipeline import fit_candidate

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ConfigError, match=r"`trainer` 'os:getcwd' failed when called .*TypeError"):
        fit_candidate(make_config(trainer="os:getcwd"), frame, pd.Series([0, 1, 0, 1]))


@pytest.mark.parametrize(
    ("compute", "extra", "pattern"),
    [
        ({"engine": "spark"}, {}, r"compute\.engine.*spark"),
        ({"engine": "dask", "memory_limit": "lots"}, {}, r"compute\.memory_limit.*lots"),
        ({"engine": "dask", "address": "localhost:8786"}, {}, r"compute\.address.*localhost:8786"),
        (
            {"engine": "dask"},
            {"task": "regression", "primary_metric": "rmse"},
            r"binary classifiers.*regression",
        ),
        ({"engine": "dask"}, {"primary_metric": "ece"}, r"primary_metric.*'ece'.*engine dask"),
        ({"engine": "dask"}, {"time_column": "t"}, r"clusters or time folds"),
    ],
)
def test_what_engine_dask_cannot_do_is_named(compute: dict, extra: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        make_config(compute=compute, **extra)


def test_engine_dask_accepts_a_scheduler_address() -> None:
    config = make_config(compute={"engine": "dask", "address": "tcp://10.0.0.5:8786", "n_workers": 4})
    assert config.compute.address == "tcp://10.0.0.5:8786"
