"""The partitioned comparison (`gatekeeper.compare.partitions`) on a Dask cluster.

The scores are read lazily as a Dask DataFrame (a Parquet file, a folder of them, a glob, local or
any fsspec URL), one partition per task; each task returns only its small statistics, which are
merged in a tree. A `LocalCluster` is started for the run unless `address` names a running
scheduler. Dask is an optional extra (`pip install -e ".[dask]"`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.compare.partitions import (
    Columns,
    check_supported,
    comparison,
    count_partition,
    empty_groups,
    histogram_partition,
    merge_counts,
    merge_histograms,
    metric_names,
    plan,
    score_edges,
)
from gatekeeper.compare.segments import Comparison
from gatekeeper.config import GateConfig, PolicyConfig
from gatekeeper.decide.decision import Decision, Evidence, with_comparison
from gatekeeper.decide.policy import decide
from gatekeeper.errors import ConfigError, DataValidationError, did_you_mean
from gatekeeper.stats.bootstrap import PairedDelta, SegmentComparison
from gatekeeper.train.models import TrainedModel, model_outputs

EDGE_SAMPLE_ROWS = 400_000  # scores sampled (per model) to place the score bins' edges
FAN_IN = 8  # partial results merged per task


@dataclass(frozen=True)
class DaskCompute:
    """Where the comparison runs: a scheduler `address`, or a LocalCluster of `n_workers`."""

    address: str | None = None
    n_workers: int = 2
    memory_limit: str = "2GiB"  # per worker, LocalCluster only

    def __post_init__(self) -> None:
        if self.n_workers < 1:
            raise ConfigError(f"--workers must be at least 1; got {self.n_workers}")


@contextmanager
def dask_client(compute: DaskCompute) -> Iterator[Any]:
    """A `distributed.Client` on `compute.address`, or on a LocalCluster closed afterwards."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            'engine dask needs dask and distributed: pip install -e ".[dask]" (got neither installed)'
        ) from None
    if compute.address:
        with Client(compute.address) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=compute.n_workers,
            threads_per_worker=1,
            memory_limit=compute.memory_limit,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _labels_in(labels: Any) -> Any:
    """The distinct labels (as text) of one partition."""
    return labels.dropna().astype(str).drop_duplicates()


def _tree(items: Sequence[Any], merge: Callable[..., Any]) -> Any:
    from dask import delayed

    level = list(items)
    while len(level) > 1:
        level = [delayed(merge)(level[i : i + FAN_IN]) for i in range(0, len(level), FAN_IN)]
    return level[0]


def compare_scores_on_dask(
    source: str,
    *,
    label: str,
    champion: str,
    candidate: str,
    policy: PolicyConfig,
    compute: DaskCompute,
    positive_label: Any | None = None,
    model_name: str = "scores",
    progress: Callable[[str], None] = lambda _: None,
) -> Decision:
    """`gatekeeper.decide.scores.compare_scores` for a Parquet dataset that need not fit in memory;
    `progress` hears what each pass is doing (the CLI prints it)."""
    import dask
    import dask.dataframe as dd

    check_supported(policy)
    named = [("--label", label), ("--champion", champion), ("--candidate", candidate)]
    named += [("--segments", c) for cols in policy.segment_columns for c in cols]
    named += [("--key", c) for key in policy.key_segments for c in key.where]
    with dask_client(compute) as client:
        progress(f"Dask scheduler {client.scheduler_info()['address']}")
        try:
            frame = dd.read_parquet(source)
        except (OSError, ValueError) as exc:
            raise DataValidationError(
                f"--scores {source!r} is not a readable Parquet dataset: {exc}"
            ) from None
        for flag, column in named:
            if column not in frame.columns:
                raise ConfigError(
                    f"{flag} must name a column of {source}; got {column!r}"
                    f"{did_you_mean(column, list(frame.columns))}"
                )
        frame = frame[list(dict.fromkeys(c for _, c in named))]
        for flag, column in (("--champion", champion), ("--candidate", candidate)):
            if not pd.api.types.is_numeric_dtype(frame[column].dtype):
                raise DataValidationError(
                    f"{flag} column {column!r} must hold probabilities of the positive class in [0, 1]; "
                    f"got values of type {frame[column].dtype}"
                )
        scores = frame[[champion, candidate]]
        classes, n, low, high, missing = dask.compute(
            frame[label].map_partitions(_labels_in, meta=(label, "object")),  # no shuffle
            frame.shape[0],
            scores.min(),
            scores.max(),
            scores.isna().sum(),
        )
        labels = sorted(set(classes.tolist()))
        if len(labels) != 2:
            raise DataValidationError(
                f"--label {label!r} must hold two classes; got {len(labels)}: {labels[:5]}"
            )
        for flag, column in (("--champion", champion), ("--candidate", candidate)):
            if missing[column] or low[column] < 0 or high[column] > 1:
                raise DataValidationError(
                    f"{flag} column {column!r} must hold probabilities of the positive class in [0, 1] "
                    f"with no missing values; saw min {low[column]:.4g}, max {high[column]:.4g}, "
                    f"{int(missing[column])} missing"
                )
        positive = labels[1]
        if positive_label is not None:
            if str(positive_label) not in labels:
                raise ConfigError(f"positive_label {positive_label!r} is not one of the classes {labels}")
            positive = str(positive_label)
        columns = Columns(label, champion, candidate, positive)
        found = compare_on_dask(client, frame, columns, policy, int(n), progress)
    evidence = Evidence(
        model_name, policy.primary_metric, champion_version=champion, candidate_version=candidate
    )
    return decide(with_comparison(evidence, found), policy)


def compare_on_dask(
    client: Any,
    frame: Any,
    columns: Columns,
    policy: PolicyConfig,
    n: int,
    progress: Callable[[str], None] = lambda _: None,
) -> Comparison:
    """Both passes of the partitioned comparison over a Dask DataFrame holding the label, both models'
    probability of the positive class and the segment columns (`n` rows)."""
    from dask import delayed

    scores = frame[[columns.champion, columns.candidate]]
    progress(f"{n:,} rows in {frame.npartitions} partitions; sampling scores for the bin edges")
    share = min(1.0, EDGE_SAMPLE_ROWS / max(n, 1))
    sample = scores.sample(frac=share, random_state=policy.statistics.seed).compute()
    edges = score_edges(sample.to_numpy().ravel())
    parts = frame.to_delayed()
    progress("pass 1 of 2: label counts per score bin, per segment and model")
    counted = [delayed(count_partition)(p, columns, policy, edges) for p in parts]
    empty = empty_groups(policy, len(edges) + 1)
    counts = merge_counts([empty, _tree(counted, merge_counts).compute()])
    the_plan = plan(counts, metric_names(policy), edges)
    # one copy per worker: the lookups are ~100 KB per group and metric, not once per task
    shared_plan = client.scatter(the_plan, broadcast=True)
    progress(f"pass 2 of 2: paired influence histograms of {len(the_plan.spans)} segment-metric pairs")
    histograms = _tree(
        [delayed(histogram_partition)(p, columns, policy, shared_plan) for p in parts], merge_histograms
    )
    return comparison(counts, histograms.compute(), the_plan, policy)


# ---------------------------------------------------------------- a gate run's models on the cluster

SCORED = ("__champion__", "__candidate__")  # the positive class's probability, per model


def _score_partition(
    part: pd.DataFrame,
    candidate: TrainedModel,
    champion: TrainedModel | None,
    positive: int,
    keep: list[str],
) -> pd.DataFrame:
    """One partition's label and segment columns with both models' probability of the positive class
    (the candidate's twice when there is no champion yet)."""

    def score(model: TrainedModel) -> Any:
        outputs = model_outputs(model.model, part.reindex(columns=model.features), candidate.classes)
        return outputs[:, positive]

    out = part[keep].reset_index(drop=True)
    new = score(candidate)
    out[SCORED[1]] = new
    out[SCORED[0]] = new if champion is None else score(champion)
    return out


def compare_models_on_dask(
    frame: Any,
    rows: int,
    config: GateConfig,
    candidate: TrainedModel,
    champion: TrainedModel | None,
    progress: Callable[[str], None] = lambda _: None,
) -> Comparison:
    """Score both models on every partition of the evaluation rows (the models are sent once to each
    worker; only the label, segment columns and two scores are kept, in the cluster's memory) and
    compare them partition by partition. Without a champion the candidate is measured alone."""
    import dask.dataframe as dd
    from dask import delayed
    from distributed import get_client

    client = get_client()
    classes = [str(c) for c in candidate.classes]
    positive = 1
    if config.positive_label is not None and str(config.positive_label) in classes:
        positive = classes.index(str(config.positive_label))
    keep = list(
        dict.fromkeys(
            [config.target, *(c for cols in config.segment_columns for c in cols)]
            + [c for key in config.key_segments for c in key.where]
        )
    )
    keep = [c for c in keep if c in frame.columns]
    models = client.scatter([candidate, champion] if champion is not None else [candidate], broadcast=True)
    champ = models[1] if champion is not None else None
    # the columns in the order `_score_partition` adds them: candidate, then champion
    meta = frame._meta[keep].reset_index(drop=True).assign(**{name: np.float64() for name in SCORED[::-1]})
    parts = [delayed(_score_partition)(p, models[0], champ, positive, keep) for p in frame.to_delayed()]
    scored = client.persist(dd.from_delayed(parts, meta=meta))
    progress(f"scoring both models on {rows:,} evaluation rows in {frame.npartitions} partitions")
    columns = Columns(config.target, SCORED[0], SCORED[1], candidate.classes[positive])
    try:
        found = compare_on_dask(client, scored, columns, config, rows, progress)
    finally:
        client.cancel(scored)
    if champion is not None:
        return found
    return Comparison(
        _alone(found.overall), [_alone(s) for s in found.segments], [_alone(s) for s in found.key_segments]
    )


def _alone(segment: SegmentComparison) -> SegmentComparison:
    """A segment's comparison with the champion's side removed (measured against itself)."""

    def one(d: PairedDelta) -> PairedDelta:
        return replace(d, champion=None, delta=None, resamples=None, influence_sd=None)

    return replace(
        segment,
        primary=one(segment.primary),
        secondary={k: one(v) for k, v in segment.secondary.items()},
        churn=None,
    )
