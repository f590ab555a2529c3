from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatekeeper.data.structure import structural_checks
from gatekeeper.data.tables import GateTables, check_config_against, feature_columns, read_table
from gatekeeper.errors import ConfigError, DataLoadError
from tests.builders import make_config


@pytest.fixture
def reference() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "amount": [1.0, 2.0, 3.0, 4.0],
            "browser": ["a", "b", "a", "b"],
            "is_fraud": [0, 1, 0, 1],
        }
    )


def _failed(frame, reference, table="new_labels"):
    config = make_config(id_columns=["id"])
    checks = structural_checks(frame, table, config, reference, feature_columns(config, reference))
    return [c for c in checks if c.stops]


def test_clean_batch_passes(reference) -> None:
    assert _failed(reference.copy(), reference) == []


def test_missing_target_is_named(reference) -> None:
    (check,) = _failed(reference.drop(columns="is_fraud"), reference)
    assert check.check == "validation.target_missing"
    assert check.column == "is_fraud"
    assert "new_labels" in check.message


def test_wrong_dtype_names_column_seen_and_expected(reference) -> None:
    batch = reference.assign(amount=["1", "2", "x", "4"])
    (check,) = _failed(batch, reference)
    assert check.check == "validation.column_type"
    assert "column 'amount' is categorical" in check.message
    assert "expected numeric" in check.message


def test_empty_batch_blocks(reference) -> None:
    (check,) = _failed(reference.iloc[:0], reference)
    assert check.check == "validation.empty"


def test_one_class_labels_block(reference) -> None:
    (check,) = _failed(reference.assign(is_fraud=0), reference)
    assert check.check == "validation.one_class"


def test_unknown_and_null_labels_block(reference) -> None:
    checks = _failed(reference.assign(is_fraud=[0, 1, 2, np.nan]), reference)
    assert {c.check for c in checks} == {"validation.unknown_label", "validation.target_null"}


def test_missing_feature_is_named(reference) -> None:
    (check,) = _failed(reference.drop(columns="browser"), reference)
    assert check.check == "validation.column_missing"
    assert check.column == "browser"


def test_default_features_skip_target_and_ids(reference) -> None:
    assert feature_columns(make_config(id_columns=["id"]), reference) == ["amount", "browser"]


def _tables(frame: pd.DataFrame) -> GateTables:
    return GateTables(
        frame, frame, frame, hashes={}, paths={"train": "t", "new_labels": "n", "evaluation": "e"}
    )


def test_unknown_segment_column_is_a_config_error_with_suggestion(reference) -> None:
    config = make_config(segments=["browser", "amount", "brwoser"])
    with pytest.raises(ConfigError, match=r"`segments\[2\]`.*got 'brwoser' \(did you mean 'browser'\?\)"):
        check_config_against(config, _tables(reference))


def test_unknown_target_and_key_column_are_config_errors(reference) -> None:
    with pytest.raises(ConfigError, match=r"`target`.*got 'is_fruad' \(did you mean 'is_fraud'\?\)"):
        check_config_against(make_config(target="is_fruad"), _tables(reference))
    config = make_config(key_segments=[{"where": {"browsr": "a"}}])
    with pytest.raises(ConfigError, match=r"key_segments\[0\]\.where.*'browsr'"):
        check_config_against(config, _tables(reference))


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.parquet", "semi.csv"])
def test_read_table_formats(tmp_path: Path, reference: pd.DataFrame, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".parquet"):
        reference.to_parquet(path)
    else:
        reference.to_csv(path, index=False, sep=";" if name.startswith("semi") else ",")
    assert read_table(str(path)).shape == reference.shape


def test_read_table_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match="does not exist"):
        read_table(str(tmp_path / "nope.csv"))
    with pytest.raises(DataLoadError, match=r"cannot tell the format.*\.xlsx"):
        read_table(str(tmp_path / "data.xlsx"))
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataLoadError, match="could not read"):
        read_table(str(bad))


def test_a_time_column_the_evaluation_rows_lack_is_named() -> None:
    config = make_config(target="y", time_column="event_time", segments=[], key_segments=[])
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    checks = structural_checks(frame, "evaluation", config, frame, ["x"])
    (check,) = [c for c in checks if c.check == "validation.time_column_missing"]
    assert check.effect == "block"
    assert "'event_time'" in check.message
    assert "expected one of its columns" in check.message
    assert not structural_checks(
        frame, "train", config, frame, ["x"]
    )  # only the evaluation rows are cut by time
