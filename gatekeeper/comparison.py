"""Champion against candidate on the same rows: overall, per segment, per key segment (pure)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gatekeeper.config import PolicyConfig
from gatekeeper.discovery import discover_regressions
from gatekeeper.paired import PairedRows, compare_segment
from gatekeeper.policy import Evidence
from gatekeeper.stats import rows_where, segments_from_columns


def gather_evidence(
    frame: pd.DataFrame,
    rows: PairedRows,
    config: PolicyConfig,
    *,
    model_name: str,
    champion_version: str | None = None,
    candidate_version: str | None = None,
    features: list[str] | None = None,
) -> Evidence:
    """Paired comparisons of every configured segment and key segment, plus regression discovery
    over `features` (none: no discovery)."""
    stats = config.statistics
    metrics = [config.primary_metric, *[m for m in config.secondary_metrics if m != config.primary_metric]]
    rng = np.random.default_rng(stats.seed)

    def compare(name, where, index):
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
    return Evidence(
        model_name=model_name,
        primary_metric=config.primary_metric,
        champion_version=champion_version,
        candidate_version=candidate_version,
        overall=overall,
        segments=segments,
        key_segments=keys,
        discovered=discovered,
    )
