"""Models teams already have, through the real flow and a real MLflow registry (sqlite), no mocks.

A team's own job logs and registers models with plain MLflow calls (as a notebook or a Databricks job
would); its first champion was promoted by hand, before the gate existed. The gate then judges each
candidate it is given (models:/NAME/N, models:/NAME@challenger, runs:/RUN/PATH), in its own flavor
(scikit-learn logged with skops, LightGBM, XGBoost, a pyfunc returning one score), adopts the
hand-promoted champion on its first run, and moves `champion` only as its decision says.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gatekeeper.config import GateConfig, parse_config
from gatekeeper.data.starter import write_starter_suite
from gatekeeper.errors import ConfigError, ModelError
from tests.integration.helpers import aliases, mlflow_client, run_gate

lightgbm = pytest.importorskip("lightgbm", reason="pip install -e '.[lightgbm]'")
xgboost = pytest.importorskip("xgboost", reason="pip install -e '.[xgboost]'")

FEATURES = ["x0", "x1", "x2", "x3", "x4"]
MODEL = "team-churn"


def customers(n: int, seed: int) -> pd.DataFrame:
    """A churn world a linear model can only half learn: an interaction and a threshold drive it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    plan = rng.choice(["basic", "pro"], n, p=[0.7, 0.3])
    logit = -0.8 + 1.1 * x[:, 0] - 0.7 * x[:, 1] + 1.6 * x[:, 2] * x[:, 3] + 1.2 * (x[:, 4] > 0.6)
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(x.round(4), columns=FEATURES)
    frame.insert(0, "customer_id", [f"c{seed}-{i}" for i in range(n)])
    return frame.assign(region=region, plan=plan, churned=churned)


class ScoreOnly:
    """A team's pyfunc wrapper returning one column, the probability of churn."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context: Any, model_input: Any, params: Any = None) -> pd.DataFrame:
        return pd.DataFrame({"probability": self.model.predict_proba(model_input[FEATURES])[:, 1]})


class NanPastTheProbe:
    """A team's pyfunc wrapper whose probability is NaN on every 100th row past the first hundred:
    fine on the few rows a candidate is probed on, broken on the evaluation data."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context: Any, model_input: Any, params: Any = None) -> pd.DataFrame:
        scores = self.model.predict_proba(model_input[FEATURES])[:, 1]
        if len(scores) > 100:
            scores[100::100] = float("nan")
        return pd.DataFrame({"probability": scores})


class LabelsOnly:
    """A team's pyfunc wrapper returning hard labels only."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return self.model.predict(model_input[FEATURES])


@pytest.fixture(autouse=True)
def _team_uris_do_not_leak() -> Iterator[None]:
    """A team's `mlflow.set_tracking_uri` also sets MLFLOW_TRACKING_URI (and the registry's), which the
    gate reads: put both back, and MLflow's globals, so later tests see the environment they began with."""
    import mlflow

    keys = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    before = {k: os.environ.get(k) for k in keys}
    yield
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("external")
    tables = {"train": customers(4000, 1), "new": customers(3000, 2), "eval": customers(6000, 3)}
    for name, frame in tables.items():
        frame.to_parquet(root / f"{name}.parquet", index=False)
    # the suite a team starts from: `gatekeeper init-expectations` on its training data
    write_starter_suite(
        str(root / "train.parquet"),
        root / "suites" / "customers.json",
        target="churned",
        id_columns=("customer_id",),
        force=False,
    )
    return {"root": root, **tables}


def gate_config(world: dict[str, Any], model: str = MODEL, **extra: Any) -> GateConfig:
    root = world["root"]
    raw = {
        "model_name": model,
        "target": "churned",
        "id_columns": ["customer_id"],
        "features": [*FEATURES, "region", "plan"],  # what the gate's own trainer would use
        "data": {
            "train": str(root / "train.parquet"),
            "new_labels": str(root / "new.parquet"),
            "evaluation": str(root / "eval.parquet"),
        },
        "expectations": {
            "directory": str(root / "suites"),
            "train": "customers",
            "new_labels": "customers",
            "evaluation": "customers",
        },
        "segments": ["region", "plan"],
        "key_segments": [{"where": {"region": "west"}, "max_regression": 0.02}],
        "primary_metric": "roc_auc",
        "secondary_metrics": ["log_loss"],
        "min_improvement": 0.002,
        "min_segment_rows": 200,
        "statistics": {"n_resamples": 400},
        "workdir": str(root / "wd"),
        **extra,
    }
    return parse_config(raw, source="test")


@pytest.fixture
def team(world: dict[str, Any]) -> Any:
    """The team's MLflow session: the same registry the gate reads, set globally as team code does
    (put back by `_team_uris_do_not_leak`)."""
    import mlflow

    uri = gate_config(world).resolved_tracking_uri
    Path(world["root"] / "wd").mkdir(exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if mlflow.get_experiment_by_name("team-training") is None:  # artifacts next to the registry
        mlflow.create_experiment("team-training", artifact_location=(world["root"] / "team").as_uri())
    mlflow.set_experiment("team-training")
    return mlflow


def team_logs(mlflow: Any, flavor: str, model: Any, frame: pd.DataFrame, register: str | None = None) -> str:
    """What a team's training job does: log the model with a signature; maybe register it. Its run id."""
    from mlflow.models import infer_signature

    X = frame[FEATURES]
    with mlflow.start_run() as run:
        if flavor in ("score-only", "labels-only", "nan-past-the-probe"):
            wrappers = {
                "score-only": ScoreOnly,
                "labels-only": LabelsOnly,
                "nan-past-the-probe": NanPastTheProbe,
            }
            wrapper = wrappers[flavor](model)

            class Wrapped(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined,misc]
                def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
                    return wrapper.predict(context, model_input, params)

            mlflow.pyfunc.log_model(name="model", python_model=Wrapped(), signature=infer_signature(X))
        else:
            signature = infer_signature(X, model.predict_proba(X))
            extra = {}
            if flavor == "sklearn" and hasattr(model, "tree_"):  # skops asks the team to trust a tree
                extra["skops_trusted_types"] = ["sklearn.tree._tree.Tree"]
            getattr(mlflow, flavor).log_model(model, name="model", signature=signature, **extra)
    uri = f"runs:/{run.info.run_id}/model"
    if register:
        mlflow.register_model(uri, register)
    return str(run.info.run_id)


def fitted(kind: str, frame: pd.DataFrame, seed: int = 0) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = frame[FEATURES], frame["churned"]
    if kind == "logistic":
        return LogisticRegression(max_iter=500).fit(X, y)
    if kind == "stump":
        return DecisionTreeClassifier(max_depth=1, random_state=seed).fit(X, y)
    if kind == "lightgbm":
        return lightgbm.LGBMClassifier(n_estimators=150, num_leaves=15, random_state=seed, verbose=-1).fit(
            X, y
        )
    if kind == "xgboost":
        return xgboost.XGBClassifier(n_estimators=150, max_depth=4, random_state=seed).fit(X, y)
    raise ValueError(kind)


def assert_alias_follows(decision: dict[str, Any], before: str, config: GateConfig) -> None:
    """`champion` moved to the candidate exactly when the decision promoted it."""
    now = aliases(config)["champion"]
    if decision["decision"] == "promoted":
        assert now == decision["candidate_version"] != before
    else:
        assert now == before, decision["decision"]


def test_hand_promoted_champion_is_adopted_and_external_candidates_are_judged(
    world: dict[str, Any], team: Any
) -> None:
    train = world["train"]
    # before the gate: the team's logistic regression (sklearn, skops format) promoted by hand
    team_logs(team, "sklearn", fitted("logistic", train), train, register=MODEL)
    client = mlflow_client(gate_config(world))
    client.set_registered_model_alias(MODEL, "champion", "1")

    # 1. a LightGBM candidate registered by the team's job, given as models:/NAME/2
    team_logs(team, "lightgbm", fitted("lightgbm", train), train, register=MODEL)
    config = gate_config(world, candidate=f"models:/{MODEL}/2")
    first = run_gate(config)
    assert first["champion_adopted"] is True
    assert first["champion_version"] == "1"
    assert first["candidate_version"] == "2"
    assert first["candidate_source"] == f"models:/{MODEL}/2"
    assert {s["segment"] for s in first["segments"]} >= {"region=north", "region=west", "plan=pro"}
    assert not any(c["effect"] == "skip" for c in first["checks"]), "a sunk candidate is judged, not skipped"
    assert first["decision"] == "promoted", first["reasons"]  # trees learn the interaction
    assert_alias_follows(first, "1", config)
    # the adoption is in the registry, not only in this run: tags on version 1 and a run with the reference
    tags = client.get_model_version(MODEL, "1").tags
    assert tags["gate.adopted"] == "true"
    with_reference = client.download_artifacts(
        tags["gate.reference_run_id"], "reference.json", str(world["root"])
    )
    recorded = json.loads(Path(with_reference).read_text())
    assert recorded["version"] == "1"
    assert recorded["reference"]["metric"] == "roc_auc"
    assert 0.5 < recorded["reference"]["overall"] < first["overall"]["candidate"]
    assert first["triage"]["reference"]["overall"] == pytest.approx(recorded["reference"]["overall"])

    # 2. an XGBoost candidate given as runs:/ (not registered yet): the gate registers it with its tags
    run_id = team_logs(team, "xgboost", fitted("xgboost", train, seed=1), train)
    # the team's job is done: only the config's tracking_uri names the registry (MLflow resolved a
    # logged model through the process-wide URI, and failed without MLFLOW_TRACKING_URI)
    uris = (team.get_tracking_uri(), team.get_registry_uri())
    team.set_tracking_uri(None)
    team.set_registry_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    config = gate_config(world, candidate=f"runs:/{run_id}/model")
    second = run_gate(config)
    team.set_tracking_uri(uris[0])  # the team's next job
    team.set_registry_uri(uris[1])
    assert second["candidate_version"] == "3"
    assert second["champion_version"] == "2"
    assert second["champion_adopted"] is False  # version 2 carries the gate's record now
    v3 = client.get_model_version(MODEL, "3")
    assert v3.run_id == run_id
    assert v3.tags["gate.registered_from"] == f"runs:/{run_id}/model"
    assert v3.tags["gate.decision"] == second["decision"]
    assert second["segments"]
    assert second["decision"] in ("promoted", "rejected", "needs_review")
    assert_alias_follows(second, "2", config)

    # 3. a weak candidate moved to @challenger by the team: rejected, champion stays
    champion = aliases(config)["champion"]
    team_logs(team, "sklearn", fitted("stump", train), train, register=MODEL)
    client.set_registered_model_alias(MODEL, "challenger", "4")
    config = gate_config(world, candidate=f"models:/{MODEL}@challenger")
    third = run_gate(config)
    assert third["candidate_version"] == "4"
    assert third["decision"] == "rejected", third["reasons"]
    assert_alias_follows(third, champion, config)
    assert client.get_model_version(MODEL, "4").tags["gate.decision"] == "rejected"

    # 4. judged versions are not judged again (their records stay): the rejected @challenger, the
    # runs:/ of version 3 (the champion, or judged), and the champion itself
    recorded = {v: dict(client.get_model_version(MODEL, v).tags) for v in ("3", "4")}
    for uri, said in [
        (f"models:/{MODEL}@challenger", r"version 4, which the gate already judged \(rejected\)"),
        (f"runs:/{run_id}/model", r"version 3, which (the gate already judged|already is .*champion)"),
        (f"models:/{MODEL}@champion", r"already is .*champion"),
    ]:
        with pytest.raises(ModelError, match=said):
            run_gate(gate_config(world, candidate=uri))
    assert {v: dict(client.get_model_version(MODEL, v).tags) for v in ("3", "4")} == recorded
    assert aliases(config)["champion"] == champion


def test_second_run_on_an_adopted_champion_does_triage(world: dict[str, Any], team: Any) -> None:
    model = "team-churn-adopted"
    train = world["train"]
    team_logs(team, "sklearn", fitted("logistic", train), train, register=model)
    client = mlflow_client(gate_config(world, model))
    client.set_registered_model_alias(model, "champion", "1")
    # a pyfunc model that returns one score column, named in the config
    team_logs(team, "score-only", fitted("stump", train), train, register=model)
    config = gate_config(world, model, candidate=f"models:/{model}/2", prediction={"column": "probability"})
    first = run_gate(config)
    assert first["champion_adopted"] is True
    assert first["decision"] == "rejected", first["reasons"]
    assert aliases(config)["champion"] == "1"
    adopted = first["triage"]["reference"]

    # the next run (the gate's own retrain now, no candidate given) compares against the adoption
    second = run_gate(gate_config(world, model, triage={"force_retrain": False}))
    assert second["champion_adopted"] is False
    assert second["champion_version"] == "1"
    assert second["triage"]["reference"] == adopted
    rows = {r["segment"]: r for r in second["triage"]["degradation"]}
    assert "overall" in rows
    assert rows["overall"]["reference"] == pytest.approx(adopted["overall"])
    # the same world: the champion has not degraded, so triage weighs the new labels' worth
    assert any(c["check"].startswith("triage.") for c in second["checks"])


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (f"models:/{MODEL}-errors/99", "does not resolve: 'team-churn-errors' has no version 99"),
        (f"models:/{MODEL}-errors@nope", "has no alias 'nope'"),
        ("runs:/0123456789abcdef0123456789abcdef/model", "no run 0123456789abcdef0123456789abcdef"),
        ("models:/someone-elses-model/1", "is a version of registered model 'someone-elses-model'"),
        (f"models:/{MODEL}-errors@champion", "is version 1, which already is 'team-churn-errors''s champion"),
    ],
)
def test_candidates_that_do_not_resolve_are_clear_errors(
    world: dict[str, Any], team: Any, candidate: str, expected: str
) -> None:
    model = f"{MODEL}-errors"
    train = world["train"]
    client = mlflow_client(gate_config(world, model))
    if not client.search_registered_models(f"name='{model}'"):
        team_logs(team, "sklearn", fitted("logistic", train), train, register=model)
        client.set_registered_model_alias(model, "champion", "1")
        team_logs(team, "sklearn", fitted("logistic", train), train, register="someone-elses-model")
    with pytest.raises(ModelError, match=expected):
        run_gate(gate_config(world, model, candidate=candidate))
    assert aliases(gate_config(world, model))["champion"] == "1"


def test_models_the_gate_cannot_score_are_refused_before_scoring(world: dict[str, Any], team: Any) -> None:
    model = f"{MODEL}-unscoreable"
    train = world["train"]
    team_logs(team, "sklearn", fitted("logistic", train), train, register=model)
    client = mlflow_client(gate_config(world, model))
    client.set_registered_model_alias(model, "champion", "1")

    # labels only, while roc_auc and log_loss need scores
    team_logs(team, "labels-only", fitted("logistic", train), train, register=model)
    with pytest.raises(
        ModelError, match=r"gives class labels only, and \['roc_auc', 'log_loss'\] need scores"
    ):
        run_gate(gate_config(world, model, candidate=f"models:/{model}/2"))
    tags = client.get_model_version(model, "2").tags
    assert tags["gate.decision"] == "error"
    assert "class labels only" in tags["gate.reasons"]
    # with metrics that use labels, the same model is judged
    labels = run_gate(
        gate_config(
            world, model, candidate=f"models:/{model}/2", primary_metric="accuracy", secondary_metrics=[]
        )
    )
    assert labels["candidate_version"] == "2"
    assert labels["overall"]["candidate"] is not None

    # a signature that does not fit the evaluation data: a column it lacks, a type it does not have
    from mlflow.models import infer_signature

    odd = train[FEATURES].assign(x1=train["x1"].astype(str), tenure_days=1)
    with team.start_run() as run:
        team.sklearn.log_model(fitted("logistic", train), name="model", signature=infer_signature(odd))
    team.register_model(f"runs:/{run.info.run_id}/model", model)
    with pytest.raises(ModelError, match=r"signature that does not fit.*tenure_days.*'x1' is float64"):
        run_gate(gate_config(world, model, candidate=f"models:/{model}/3"))
    assert aliases(gate_config(world, model))["champion"] == "1"

    # fine on the probe rows, NaN on some evaluation rows past them: refused, named and tagged
    team_logs(team, "nan-past-the-probe", fitted("logistic", train), train, register=model)
    with pytest.raises(ModelError, match=r"models:/team-churn-unscoreable/4 .*\d+ not finite"):
        run_gate(gate_config(world, model, candidate=f"models:/{model}/4"))
    tags = client.get_model_version(model, "4").tags
    assert tags["gate.decision"] == "error"
    assert "not finite" in tags["gate.reasons"]
    assert aliases(gate_config(world, model))["champion"] == "1"


def test_a_candidate_uri_is_checked_when_the_config_is_read(world: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"`candidate`.*models:/<name>/<version>.*got 'models:/team-churn'"):
        gate_config(world, candidate="models:/team-churn")


def test_cli_adopts_on_demand_and_runs_with_a_candidate(
    world: dict[str, Any], team: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli import main
    from gatekeeper.demo.scenarios import write_config

    model = f"{MODEL}-cli"
    train = world["train"]
    path = write_config(gate_config(world, model), world["root"] / f"{model}.yaml")
    team_logs(team, "sklearn", fitted("logistic", train), train, register=model)
    client = mlflow_client(gate_config(world, model))
    client.set_registered_model_alias(model, "champion", "1")

    assert main(["adopt", "--config", str(path), "--model", "someone-else"]) == 1
    assert "--model 'someone-else' is not the config's model_name 'team-churn-cli'" in capsys.readouterr().err
    assert "gate.adopted" not in client.get_model_version(model, "1").tags

    assert main(["adopt", "--config", str(path)]) == 0
    said = capsys.readouterr().out
    assert f"adopted {model} version 1 (flavor sklearn): roc_auc 0." in said
    tags = client.get_model_version(model, "1").tags
    assert tags["gate.adopted"] == "true"
    assert len(tags["gate.reference_sha256"]) == 64

    team_logs(team, "lightgbm", fitted("lightgbm", train), train, register=model)
    out = world["root"] / "cli-decision.json"
    code = main(["run", "--config", str(path), "--candidate", f"models:/{model}/2", "--output", str(out)])
    decision = json.loads(out.read_text())
    assert code == 0
    assert decision["candidate_source"] == f"models:/{model}/2"
    assert decision["champion_adopted"] is False, "adopted on demand before this run"
    assert decision["triage"]["reference"]["overall"] > 0.5
    assert_alias_follows(decision, "1", gate_config(world, model))

    assert main(["run", "--config", str(path), "--candidate", "models:/nope"]) == 1
    assert "`candidate`" in capsys.readouterr().err


def test_a_three_class_lightgbm_candidate_against_a_hand_promoted_champion(tmp_path: Path) -> None:
    """Multiclass from outside the gate: classes as strings, macro one-vs-rest AUC and log loss."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    def plans(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, 4))
        region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
        scores = np.stack([x[:, 0] * x[:, 1], 1.2 * x[:, 2] - 0.5, np.abs(x[:, 3]) - 0.6], axis=1)
        noisy = scores + rng.gumbel(size=scores.shape) * 0.6
        label = np.array(["basic", "family", "pro"])[noisy.argmax(axis=1)]
        return pd.DataFrame(x.round(4), columns=FEATURES[:4]).assign(region=region, plan=label)

    for name, (n, seed) in {"train": (4000, 11), "new": (2000, 12), "eval": (6000, 13)}.items():
        plans(n, seed).to_parquet(tmp_path / f"{name}.parquet", index=False)
    write_starter_suite(
        str(tmp_path / "train.parquet"),
        tmp_path / "suites" / "plans.json",
        target="plan",
        id_columns=(),
        force=False,
    )
    config = parse_config(
        {
            "model_name": "team-plans",
            "target": "plan",
            "data": {k: str(tmp_path / f"{v}.parquet") for k, v in
                     {"train": "train", "new_labels": "new", "evaluation": "eval"}.items()},
            "expectations": {"directory": str(tmp_path / "suites"), "train": "plans", "new_labels": "plans"},
            "segments": ["region"],
            "primary_metric": "roc_auc",
            "secondary_metrics": ["log_loss", "recall"],
            "statistics": {"n_resamples": 300},
            "workdir": str(tmp_path / "wd"),
        },
        source="test",
    )  # fmt: skip
    train = pd.read_parquet(tmp_path / "train.parquet")
    X, y = train[FEATURES[:4]], train["plan"]
    uri = config.resolved_tracking_uri
    (tmp_path / "wd").mkdir()
    # the team's job sets the process-wide URIs (and MLFLOW_TRACKING_URI: put back after the test)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("plans", (tmp_path / "team").as_uri()))
    for flavor, model in (
        ("sklearn", LogisticRegression(max_iter=500).fit(X, y)),
        ("lightgbm", lightgbm.LGBMClassifier(n_estimators=120, num_leaves=15, verbose=-1).fit(X, y)),
    ):
        with mlflow.start_run() as run:
            signature = infer_signature(X, model.predict_proba(X))
            getattr(mlflow, flavor).log_model(model, name="model", signature=signature)
        mlflow.register_model(f"runs:/{run.info.run_id}/model", "team-plans")
    mlflow_client(config).set_registered_model_alias("team-plans", "champion", "1")

    decision = run_gate(config.model_copy(update={"candidate": "models:/team-plans/2"}))
    assert decision["champion_adopted"] is True
    assert decision["decision"] == "promoted", decision["reasons"]
    overall = decision["overall"]
    assert overall["delta"] > 0.02  # the trees learn the interaction the linear champion cannot
    assert set(overall["secondary"]) == {"log_loss", "recall"}
    assert overall["secondary"]["log_loss"]["delta"] < 0
    assert {s["segment"] for s in decision["segments"]} == {"region=north", "region=south", "region=east"}
    assert aliases(config)["champion"] == "2"
