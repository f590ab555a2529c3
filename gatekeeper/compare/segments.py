"""Champion against candidate on the same rows: overall, per segment, per key segment (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from gatekeeper.config import PolicyConfig
from gatekeeper.data.segments import Segment, rows_where, segments_from_columns
from gatekeeper.findings import DiscoveredRegression
from gatekeeper.metrics import Array
from gatekeeper.stats.bootstrap import SegmentComparison, compare_segment
from gatekeeper.stats.rows import PairedRows
from gatekeeper.stats.time_blocks import in_time_blocks

if TYPE_CHECKING:  # pandas loads with the first frame (compare-scores on Arrow never needs it)
    import pandas as pd


@dataclass(frozen=True)
class Comparison:
    """Every paired comparison of one run, and the subgroups discovery found."""

    overall: SegmentComparison
    segments: list[SegmentComparison] = field(default_factory=list)
    key_segments: list[SegmentComparison] = field(default_factory=list)
    discovered: list[DiscoveredRegression] = field(default_factory=list)
    time_folds: list[SegmentComparison] = field(default_factory=list)  # oldest first


def compare_models(
    frame: pd.DataFrame, rows: PairedRows, config: PolicyConfig, *, features: list[str] | None = None
) -> Comparison:
    """Paired comparisons of every configured segment and key segment, plus regression discovery
    over `features` (none: no discovery)."""
    families = [segments_from_columns(frame, [columns]) for columns in config.segment_columns]
    keys = [(k.name, k.where, rows_where(frame, k.where)) for k in config.key_segments]
    # time blocks (or runs of the file's order) for the segments and discovery's held-out rows
    rows = in_time(rows, times_of(frame, config), families, config, [index for _, _, index in keys])
    comparison = compare_groups(
        rows,
        config,
        families=families,
        keys=keys,
        folds=time_folds(frame, config),
    )
    if features and rows.champion is not None and config.discovery.enabled:
        from gatekeeper.compare.discovery import discover_regressions

        found = discover_regressions(frame, features, rows, config.primary_metric, config)
        return replace(comparison, discovered=found)
    return comparison


def compare_groups(
    rows: PairedRows,
    config: PolicyConfig,
    *,
    families: Sequence[Sequence[Segment]],
    keys: Sequence[tuple[str, dict[str, Any], Array]] = (),  # name, where, rows
    folds: Sequence[tuple[str, Array]] = (),
) -> Comparison:
    """Overall, every segment of each family (the segments of one column set: they split the rows),
    each key segment and time fold, in that order from one random stream (no discovery); in time
    blocks when the rows carry them (`in_time`)."""
    stats = config.statistics
    metrics = [config.primary_metric, *[m for m in config.secondary_metrics if m != config.primary_metric]]
    rng = np.random.default_rng(stats.seed)

    def compare(name: str, where: dict[str, Any], part: PairedRows) -> SegmentComparison:
        return compare_segment(
            name, where, part, metrics, n_resamples=stats.n_resamples, rng=rng, bins=stats.bins
        )

    overall = compare("overall", {}, rows)
    segments = []
    for family in families:  # gather a family's rows once: then every segment is a slice (a view)
        grouped = rows.take(np.concatenate([s.index for s in family])) if family else rows
        bounds = np.cumsum([0, *(len(s.index) for s in family)])
        segments += [
            compare(s.name, s.where, grouped.take(slice(start, stop)))
            for s, start, stop in zip(family, bounds[:-1], bounds[1:], strict=True)
        ]
    key_results = [compare(name, where, rows.take(index)) for name, where, index in keys]
    fold_results = [compare(name, {}, rows.take(index)) for name, index in folds]
    return Comparison(overall, segments, key_results, [], fold_results)


def in_time(
    rows: PairedRows,
    times: Array | None,
    families: Sequence[Sequence[Segment]],
    config: PolicyConfig,
    keys: Sequence[Array] = (),
) -> PairedRows:
    """`rows` resampled in blocks where the primary metric's delta stays correlated along time
    (`times`, from `times_of`) or, without a time column, along the rows' own order, as the data
    checks read a file without one (`in_time_blocks`); the segments of `families` and the key
    segments' rows (`keys`) are taken out of the file order's measure (a file sorted by segment is not
    a regime). Independent rows are left as they are."""
    codes = []
    for family in families:  # a code per row: its segment in the family, or one past the last
        code = np.full(rows.n, len(family), dtype=np.int64)
        for i, segment in enumerate(family):
            code[segment.index] = i
        codes.append(code)
    for index in keys:  # in the key segment or not
        code = np.zeros(rows.n, dtype=np.int64)
        code[index] = 1
        codes.append(code)
    return in_time_blocks(rows, times, config.primary_metric, codes)[0]


def times_of(frame: pd.DataFrame, config: PolicyConfig) -> Array | None:
    """The `time_column` as sortable numbers (inf where unknown, sorted last); None without one."""
    column = config.time_column
    if not column or column not in frame.columns:
        return None
    from gatekeeper.stats.units import layout_of

    return layout_of(frame, None, column).times


def time_folds(frame: pd.DataFrame, config: PolicyConfig) -> list[tuple[str, Array]]:
    """The evaluation rows in `time_folds` folds of equal size by `time_column`, oldest first
    (rows of one time stay in one fold); none without a time column."""
    column = config.time_column
    if not column or column not in frame.columns or not len(frame):
        return []
    times = frame[column]
    ranks = times.rank(method="min").to_numpy()  # ties share a rank, so a time is never split
    present = ~np.isnan(ranks)  # rows without a time are in no fold
    fold_of = np.full(len(frame), -1)
    k = config.time_folds
    fold_of[present] = np.minimum(((ranks[present] - 1) * k // present.sum()).astype(int), k - 1)
    order = np.flatnonzero(present)[np.argsort(ranks[present], kind="stable")]
    out = []
    for fold in range(config.time_folds):
        index = order[fold_of[order] == fold]
        if len(index):
            first, last = (_when(times.iloc[i]) for i in (index[0], index[-1]))
            out.append((f"time fold {fold + 1}/{config.time_folds} ({first} .. {last})", index))
    return out


def _when(value: Any) -> str:
    """A time as a person writes it: the date alone at midnight."""
    import pandas as pd

    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return str(value.date())
    return str(value)
