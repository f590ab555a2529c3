"""Champion against candidate from a table of their scores: no Prefect, no MLflow, no GX.

The offline entry point (`gatekeeper compare-scores`): a file with the label, each model's
probability of the positive class and segment columns is compared and decided exactly as in a
gate run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from gatekeeper.compare.score_table import ScoreTable, read_scores
from gatekeeper.compare.segments import compare_groups, in_time, time_folds, times_of
from gatekeeper.config import PolicyConfig, config_error_from
from gatekeeper.decide.decision import Decision, Evidence, with_comparison
from gatekeeper.decide.policy import decide
from gatekeeper.errors import ConfigError, DataValidationError, did_you_mean
from gatekeeper.metrics import Array
from gatekeeper.stats.rows import PairedRows

if TYPE_CHECKING:
    import pandas as pd


def parse_key(text: str) -> dict[str, str]:
    """A key segment written as 'col=value' or 'a=x&b=y'."""
    pairs = [part.split("=", 1) for part in text.split("&")]
    if any(len(p) != 2 for p in pairs):
        raise ConfigError(f"--key must look like 'col=value' or 'a=x&b=y'; got {text!r}")
    return {k.strip(): v.strip() for k, v in pairs}


def policy_from_options(raw: dict[str, Any], source: str = "compare-scores options") -> PolicyConfig:
    """A PolicyConfig from plain options, with the config's readable errors."""
    try:
        return PolicyConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error_from(exc, source, PolicyConfig) from None


def _probabilities(table: ScoreTable, flag: str, column: str, positive: int) -> Array:
    """(n, 2) class probabilities in class order from a column of P(positive class)."""
    values = table.probabilities(column)
    if np.isnan(values).any() or values.min() < 0 or values.max() > 1:
        raise DataValidationError(
            f"{flag} column {column!r} must hold probabilities of the positive class in "
            f"[0, 1] with no missing values; saw min {np.nanmin(values):.4g}, "
            f"max {np.nanmax(values):.4g}, {int(np.isnan(values).sum())} missing"
        )
    return np.column_stack([1 - values, values] if positive == 1 else [values, 1 - values])


def scores_columns(policy: PolicyConfig, *named: str) -> list[str]:
    """The columns a comparison under `policy` reads, after the `named` ones (label and scores)."""
    columns = [*named, *(c for cols in policy.segment_columns for c in cols)]
    columns += [c for key in policy.key_segments for c in key.where]
    return columns + [c for c in (policy.time_column, policy.cluster_column) if c]


def read_and_compare_scores(path: str, **options: Any) -> Decision:
    """`compare_scores` on a scores file, reading only the columns it needs."""
    named = (options["label"], options["champion"], options["candidate"])
    table = read_scores(path, scores_columns(options["policy"], *named))
    return compare_scores(table, source=path, **options)


def compare_scores(
    frame: pd.DataFrame | ScoreTable,
    *,
    source: str,
    label: str,
    champion: str,
    candidate: str,
    policy: PolicyConfig,
    positive_label: Any | None = None,
    model_name: str = "scores",
) -> Decision:
    """Decide between the `champion` and `candidate` score columns of `frame` on its `label` column."""
    table = frame if isinstance(frame, ScoreTable) else ScoreTable.of_frame(frame)
    named = [("--label", label), ("--champion", champion), ("--candidate", candidate)]
    named += [("--segments", c) for cols in policy.segment_columns for c in cols]
    named += [("--key", c) for key in policy.key_segments for c in key.where]
    named += [
        (f, c)
        for f, c in (("--time-column", policy.time_column), ("--cluster-column", policy.cluster_column))
        if c
    ]
    for flag, column in named:
        if column not in table.columns:
            raise ConfigError(
                f"{flag} must name a column of {source}; got {column!r}{did_you_mean(column, table.columns)}"
            )
    codes, classes = table.labels(label)
    if len(classes) != 2:
        raise DataValidationError(
            f"--label {label!r} must hold two classes; got {len(classes)}: {classes[:5]}"
        )
    positive = 1  # the second class, sorted, unless --positive-label names the first
    if positive_label is not None and str(positive_label) == str(classes[0]):
        positive = 0
    rows = PairedRows.from_codes(
        codes,
        _probabilities(table, "--candidate", candidate, positive),
        _probabilities(table, "--champion", champion, positive),
        classes,
        positive_label,
    )
    if policy.cluster_column:  # an entity's rows are resampled whole (missing: each row its own)
        rows = rows.with_clusters(table.frame()[policy.cluster_column])
    folds: list[tuple[str, Array]] = []
    times = None
    if policy.time_column in table.columns:  # folds and time blocks both read the time column
        timed = table.frame()
        folds, times = time_folds(timed, policy), times_of(timed, policy)
    families = [table.segments(columns) for columns in policy.segment_columns]
    keys = [(k.name, k.where, table.rows_where(k.where)) for k in policy.key_segments]
    rows = in_time(rows, times, families, policy, [index for _, _, index in keys])  # or file-order runs
    comparison = compare_groups(
        rows,
        policy,
        families=families,
        keys=keys,
        folds=folds,
    )
    evidence = Evidence(
        model_name, policy.primary_metric, champion_version=champion, candidate_version=candidate
    )
    return decide(with_comparison(evidence, comparison), policy)


def options_policy(
    *,
    metrics: Sequence[str],
    segments: Sequence[str],
    keys: Sequence[str],
    max_regression: float,
    min_improvement: float,
    min_segment_rows: int,
    level: float,
    resamples: int,
    seed: int,
    correction: str,
    time_column: str | None = None,
    cluster_column: str | None = None,
) -> PolicyConfig:
    """The policy `compare-scores` options describe (the first metric is the primary one)."""
    return policy_from_options(
        {
            "time_column": time_column,
            "cluster_column": cluster_column,
            "primary_metric": metrics[0] if metrics else "roc_auc",
            "secondary_metrics": list(metrics[1:]),
            "segments": list(segments),
            "key_segments": [{"where": parse_key(k), "max_regression": max_regression} for k in keys],
            "min_improvement": min_improvement,
            "min_segment_rows": min_segment_rows,
            "statistics": {
                "confidence_level": level,
                "n_resamples": resamples,
                "seed": seed,
                "correction": correction,
            },
        }
    )
