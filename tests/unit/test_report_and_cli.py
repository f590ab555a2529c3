from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli import main
from gatekeeper.decide import Evidence, decide
from gatekeeper.report.markdown import artifact_key, render_markdown, segments_csv
from tests.builders import evidence


def test_artifact_keys_are_stable_and_valid() -> None:
    assert artifact_key("Fraud_Detector.v2") == "gate-fraud-detector-v2"
    assert artifact_key("fraud-detector", "segments") == "gate-fraud-detector-segments"


def test_markdown_puts_decision_and_reasons_first(config) -> None:
    decision = decide(evidence(beta=(0.88, 0.81, 240)), config)
    md = render_markdown(decision)
    assert md.startswith("# fraud-detector: REJECTED")
    assert md.index("## Why") < md.index("## Evidence")
    assert re.search(
        r"\| browser=chrome-beta \| yes \| 240 \| 0\.8800 \| 0\.8100 \| -0\.0700 \| "
        r"\[-0\.07\d\d, -0\.06\d\d\] \| regressed \|",
        md,
    )
    assert "Holm (family-wise error)" in md
    assert segments_csv(decision).splitlines()[0] == (
        "segment,key,n,champion,candidate,delta,ci_low,ci_high,status,rows_needed,churn,classes_driving"
    )


def test_blocked_markdown_mentions_quarantine(config) -> None:
    decision = decide(Evidence("m", "roc_auc", quarantine="/q/m/1"), config)
    assert "/q/m/1" in render_markdown(decision)


def test_cli_bad_config_exits_nonzero_with_one_paragraph(tmp_path: Path, capsys) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("model_name: m\ntarget: y\nsegmnets: [a]\n")
    assert main(["run", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "`segmnets` is not a known key (did you mean 'segments'?)" in err
    assert "Traceback" not in err


def test_cli_missing_config_file(tmp_path: Path, capsys) -> None:
    assert main(["run", "--config", str(tmp_path / "none.yaml")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo", "--scenario", "nope"])
    assert info.value.code == 2


def test_upweight_gives_segment_rows_more_weight_in_training() -> None:
    import numpy as np
    import pandas as pd

    from gatekeeper.train.pipeline import fit_candidate, sample_weights
    from tests.builders import make_config

    config = make_config(upweight=[{"where": {"browser": "beta"}, "weight": 5.0}])
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"browser": rng.choice(["beta", "chrome"], 400), "amount": rng.normal(size=400)})
    y = pd.Series((frame["amount"] > 0).astype(int))
    weights = sample_weights(config, frame)
    assert set(np.unique(weights)) == {1.0, 5.0}
    assert (weights[frame["browser"].to_numpy() == "beta"] == 5.0).all()
    model = fit_candidate(config, frame, y, weights)
    assert model.predict_proba(frame).shape == (400, 2)
    assert sample_weights(make_config(), frame) is None


@pytest.mark.parametrize(
    "argv",
    [["status", "--model", "churn"], ["approve", "--model", "churn", "--version", "3", "--by", "ana"]],
    ids=["status", "approve"],
)
def test_a_wrong_workdir_is_named_and_no_empty_registry_is_created(
    tmp_path, capsys, monkeypatch, argv
) -> None:
    """Commands that read or change an existing registry refuse a --workdir without one (they used to
    create an empty mlflow.db there and report nothing)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    nowhere = tmp_path / "typo"
    assert main([*argv, "--workdir", str(nowhere)]) == 1
    err = capsys.readouterr().err
    assert "--workdir: no registry at sqlite:///" in err
    assert str(nowhere / "mlflow.db") in err
    assert not nowhere.exists()
