"""Three classes through the real flow with a gate-trained candidate: macro one-vs-rest AUC, log loss
and macro recall per segment with paired intervals, and the classes that drive a segment's change
named in the decision, segments.csv and the report. The class and segment the world changes for vary."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatekeeper.config import GateConfig, parse_config
from gatekeeper.data.starter import write_starter_suite
from gatekeeper.decide.decision import read_decision
from gatekeeper.report.markdown import render_markdown, segments_csv
from tests.integration.helpers import aliases, run_gate

CLASSES = ["basic", "family", "pro"]
REGIONS = ["north", "south", "east"]


def plans(n: int, seed: int, changed: tuple[str, str] | None = None) -> pd.DataFrame:
    """Which plan a customer picks. In the changed world, in one region, one plan is now chosen by
    customers with high x3 (a new offer there): the champion, trained before, misses them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    region = rng.choice(REGIONS, n, p=[0.4, 0.35, 0.25])
    scores = np.stack([0.9 * x[:, 0], 0.9 * x[:, 1], 0.9 * x[:, 2] - 0.3], axis=1)
    if changed is not None:
        where, plan = changed
        scores[:, CLASSES.index(plan)] += np.where((region == where) & (x[:, 3] > 0.3), 2.5, 0.0)
    label = np.array(CLASSES)[(scores + rng.gumbel(size=scores.shape)).argmax(axis=1)]
    frame = pd.DataFrame(x.round(4), columns=["x0", "x1", "x2", "x3"])
    return frame.assign(region=region, plan=label)


def config_for(folder: Path, model: str, train: str, new: str, evaluation: str) -> GateConfig:
    return parse_config(
        {
            "model_name": model,
            "target": "plan",
            "data": {
                "train": str(folder / f"{train}.parquet"),
                "new_labels": str(folder / f"{new}.parquet"),
                "evaluation": str(folder / f"{evaluation}.parquet"),
            },
            "expectations": {"directory": str(folder / "suites"), "train": "plans", "new_labels": "plans"},
            "segments": ["region"],
            "primary_metric": "roc_auc",
            "secondary_metrics": ["log_loss", "recall"],
            "min_segment_rows": 200,
            # the class attribution is under test here, not how much of the loss retraining recovers
            "triage": {"force_retrain": True, "min_recovery": 0.0},
            "statistics": {"n_resamples": 300},
            "workdir": str(folder / "wd"),
        },
        source="test",
    )


@pytest.mark.parametrize(("region", "plan"), [("south", "pro"), ("east", "family")])
def test_the_class_a_changed_world_moves_is_named_for_its_segment(
    tmp_path: Path, region: str, plan: str
) -> None:
    old = plans(3000, 1)
    old.to_parquet(tmp_path / "old.parquet", index=False)
    plans(1500, 2).to_parquet(tmp_path / "old-eval.parquet", index=False)
    plans(6000, 3, (region, plan)).to_parquet(tmp_path / "new.parquet", index=False)
    plans(6000, 4, (region, plan)).to_parquet(tmp_path / "new-eval.parquet", index=False)
    write_starter_suite(
        str(tmp_path / "old.parquet"),
        tmp_path / "suites" / "plans.json",
        target="plan",
        id_columns=(),
        force=False,
    )
    model = f"plans-{region}-{plan}"
    first = run_gate(config_for(tmp_path, model, "old", "old-eval", "old-eval"))
    assert first["decision"] == "bootstrap"
    second = run_gate(config_for(tmp_path, model, "old", "new", "new-eval"))
    assert second["decision"] == "promoted", second["reasons"]
    assert aliases(config_for(tmp_path, model, "old", "new", "new-eval"))["champion"] == "2"

    overall = second["overall"]
    assert set(overall["secondary"]) == {"log_loss", "recall"}
    assert overall["ci_low"] < overall["delta"] < overall["ci_high"]
    assert overall["secondary"]["recall"]["ci_low"] is not None
    segments = {s["segment"]: s for s in second["segments"]}
    changed = segments[f"region={region}"]
    recall = {c["label"]: c for c in changed["class_recall"]}
    assert set(recall) == set(CLASSES)
    assert sum(c["n"] for c in recall.values()) == changed["n"]
    top = max(recall.values(), key=lambda c: abs(c["delta"]))
    assert top["label"] == plan, recall
    assert top["delta"] > 0
    assert top["ci_low"] > 0
    # elsewhere the world did not change: no class moves beyond noise by as much
    for other in set(REGIONS) - {region}:
        assert max(abs(c["delta"]) for c in segments[f"region={other}"]["class_recall"]) < top["delta"]

    decision = read_decision(second)
    table = {r["segment"]: r for r in csv.DictReader(io.StringIO(segments_csv(decision)))}
    assert table[f"region={region}"]["classes_driving"].startswith(f"{plan}: +")
    report = render_markdown(decision)
    assert "## Which classes drive each segment's change" in report
    assert f"| region={region} | {changed['n']} | {plan}: +" in report
