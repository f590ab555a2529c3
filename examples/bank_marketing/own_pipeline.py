"""A team's own training job, as the gate meets it: it trains a model its own way (a logistic regression,
not the gate's pipeline), logs it to MLflow, registers it as a new version of `bank-term-deposit`
and points the alias `challenger` at it. The gate then judges that version:

    python examples/bank_marketing/own_pipeline.py
    gatekeeper run --config examples/bank_marketing/gate.yaml --candidate models:/bank-term-deposit@challenger

MLflow is `$MLFLOW_TRACKING_URI`, else the registry `gatekeeper run` uses by default
(`.gatekeeper/mlflow.db` in the current folder)."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
MODEL = "bank-term-deposit"
FEATURES = [
    "age", "job", "marital", "education", "default", "housing", "loan", "campaign", "pdays", "previous",
    "emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed",
]  # fmt: skip
CATEGORICAL = ["job", "marital", "education", "default", "housing", "loan"]


def main() -> None:
    tracking = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('.gatekeeper/mlflow.db').resolve()}"
    Path(".gatekeeper").mkdir(exist_ok=True)
    mlflow.set_tracking_uri(tracking)
    rows = pd.concat([pd.read_csv(HERE / "data" / f, sep=";") for f in ("train.csv.gz", "new_labels.csv.gz")])
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            (StandardScaler(), [f for f in FEATURES if f not in CATEGORICAL]),
        ),
        LogisticRegression(max_iter=1000),
    )
    model.fit(rows[FEATURES], rows["y"])
    mlflow.set_experiment("bank-team-training")
    with mlflow.start_run(run_name="weekly-logistic-regression"):
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=rows[FEATURES].head(5), registered_model_name=MODEL
        )
    version = info.registered_model_version
    MlflowClient().set_registered_model_alias(MODEL, "challenger", str(version))
    print(f"registered {MODEL} version {version} (alias challenger) at {tracking}")


if __name__ == "__main__":
    main()
