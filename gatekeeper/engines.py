"""What each compute engine can compute, declared below the config so the config can refuse a policy an
engine cannot carry out when it is loaded (the engines themselves live in compare/ and decide/)."""

from __future__ import annotations

from collections.abc import Sequence

from gatekeeper.errors import ConfigError

DASK_METRICS = (
    "roc_auc",
    "average_precision",
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "log_loss",
    "brier",
)


def check_dask_supports(
    task: str, primary_metric: str, secondary_metrics: Sequence[str], *, clustered: bool
) -> None:
    """A clear error for what the partitioned (Dask) engine cannot compute."""
    if task != "classification":
        raise ConfigError(f"engine dask compares binary classifiers only; got task {task!r}")
    for where, name in [("primary_metric", primary_metric)] + [
        (f"secondary_metrics[{i}]", m) for i, m in enumerate(secondary_metrics)
    ]:
        if name not in DASK_METRICS:
            raise ConfigError(
                f"`{where}` {name!r} is not computed by engine dask; expected one of {list(DASK_METRICS)}"
            )
    if clustered:
        raise ConfigError("engine dask does not resample clusters or time folds yet; use engine local")
