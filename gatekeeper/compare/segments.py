"""Champion against candidate on the same rows: overall, per segment, per key segment (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.compare.bootstrap import SegmentComparison, compare_segment
from gatekeeper.compare.discovery import discover_regressions
from gatekeeper.compare.rows import PairedRows
from gatekeeper.config import PolicyConfig
from gatekeeper.data.segments import rows_where, segments_from_columns
from gatekeeper.findings import DiscoveredRegression
from gatekeeper.metrics import Array


@dataclass(frozen=True)
class Comparison:
    """Every paired comparison of one run, and the subgroups discovery found."""

    overall: SegmentComparison
    segments: list[SegmentComparison] = field(default_factory=list)
    key_segments: list[SegmentComparison] = field(default_factory=list)
    discovered: list[DiscoveredRegression] = field(default_factory=list)


def compare_models(
    frame: pd.DataFrame, rows: PairedRows, config: PolicyConfig, *, features: list[str] | None = None
) -> Comparison:
    """Paired comparisons of every configured segment and key segment, plus regression discovery
    over `features` (none: no discovery)."""
    stats = config.statistics
    metrics = [config.primary_metric, *[m for m in config.secondary_metrics if m != config.primary_metric]]
    rng = np.random.default_rng(stats.seed)

    def compare(name: str, where: dict[str, Any], index: Array) -> SegmentComparison:
        return compare_segment(
            name, where, rows.take(index), metrics, n_resamples=stats.n_resamples, rng=rng, bins=stats.bins
        )

    overall = compare("overall", {}, np.arange(rows.n))
    segments = [
        compare(s.name, s.where, s.index) for s in segments_from_columns(frame, config.segment_columns)
    ]
    keys = [compare(k.name, k.where, rows_where(frame, k.where)) for k in config.key_segments]
    discovered = []
    if features and rows.champion is not None and config.discovery.enabled:
        discovered = discover_regressions(frame, features, rows, config.primary_metric, config)
    return Comparison(overall, segments, keys, discovered)
