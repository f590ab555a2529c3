"""Is retraining warranted? The champion on the new labels against its reference (pure).

The champion is scored on the new labelled batch, overall and per segment, and compared with
the reference performance it had when it was gated (its own decision). Rows tied by entity, time
or order are counted in independent units (`gatekeeper.stats.units`). With no degradation
anywhere the gate does not retrain (effect `skip`, diagnosis `no_degradation`, the saved
training said), unless `triage.force_retrain`.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.data.segments import config_segments
from gatekeeper.findings import ChampionReference, DegradationRow
from gatekeeper.metrics import Array, estimate, metric
from gatekeeper.stats.bootstrap import InfluenceHistogram
from gatekeeper.stats.inference import adjust
from gatekeeper.stats.rows import PairedRows
from gatekeeper.stats.units import block_length, layout_of
from gatekeeper.triage.tolerance import degradation_tolerance, tolerance_words
from gatekeeper.vocabulary import Check


def single_interval(
    name: str,
    rows: PairedRows,
    outputs: Array,
    *,
    n_resamples: int,
    level: float,
    rng: np.random.Generator,
    bins: int = 64,
    units: Array | None = None,
) -> tuple[float | None, float | None, float | None]:
    """One model's metric with a bootstrap interval (value, low, high). With `units` (a unit id per
    row, rows tied by entity, time or order), the interval is normal with the standard error of the
    per-unit sums of the influence values (rows inside a unit are not independent evidence)."""
    est = estimate(name, rows.targets, outputs)
    if est.value is None or est.influence is None:
        return est.value, None, None
    if units is not None:
        sums = np.bincount(np.unique(units, return_inverse=True)[1], weights=est.influence)
        m, n = len(sums), len(est.influence)
        if m < 2:
            return est.value, None, None
        se = float(np.sqrt(np.sum((sums - sums.mean()) ** 2) * m / (m - 1))) / n
        z = NormalDist().inv_cdf(1 - (1 - level) / 2)
        return est.value, est.value - z * se, est.value + z * se
    draws = est.value + InfluenceHistogram.of(est.influence, bins).resample_means(n_resamples, rng)
    lo, hi = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2])
    return est.value, float(lo), float(hi)


def _units(batch: pd.DataFrame, rows: PairedRows, config: GateConfig) -> Array | None:
    """A unit id per row of the batch when its rows are tied (entities; time blocks or runs whose
    length is measured on the champion's per-row influence on the metric), else None (rows)."""
    est = estimate(config.primary_metric, rows.targets, rows.candidate)
    if est.influence is None:
        return None
    layout = layout_of(batch, config.cluster_column, config.time_column)
    length = 1 if layout.clusters is not None else block_length(np.asarray(est.influence)[layout.sequence])
    units = layout.units(length)
    return None if units.independent else units.ids


def degradation_checks(
    batch: pd.DataFrame, rows: PairedRows, reference: ChampionReference | None, config: GateConfig
) -> tuple[list[Check], list[DegradationRow]]:
    """Where the champion does worse on the new labels than it did when it was gated."""
    name = config.primary_metric
    m = metric(name)
    settings, stats = config.triage, config.statistics
    if reference is None or reference.metric != name:
        note = Check(
            "triage.reference",
            "warn",
            f"the champion has no recorded reference performance for {name}; retraining without a "
            "degradation check",
        )
        return [note], []
    rng = np.random.default_rng(stats.seed + 17)
    level = stats.confidence_level
    units = _units(batch, rows, config)
    table: list[DegradationRow] = []
    for segment, index in config_segments(batch, config):
        ref = reference.overall if segment == "overall" else reference.segments.get(segment)
        if ref is None or len(index) < config.min_segment_rows:
            continue
        part = rows.take(index)
        if m.too_few_of_a_class(part.minority(), config.min_class_rows):
            continue
        value, lo, hi = single_interval(
            name,
            part,
            part.candidate,
            n_resamples=stats.n_resamples,
            level=level,
            rng=rng,
            bins=stats.bins,
            units=None if units is None else units[index],
        )
        if value is None or lo is None or hi is None:
            continue
        # the reference is an estimate too: its standard error scales from the batch's by the row counts
        se_batch = (hi - lo) / (2 * NormalDist().inv_cdf(1 - (1 - level) / 2))
        ref_rows = reference.rows.get(segment) or len(index)
        se = float(np.hypot(se_batch, se_batch * np.sqrt(len(index) / max(ref_rows, 1))))
        gap = m.gain(value - ref)  # negative: worse than when gated
        tolerance = degradation_tolerance(config, ref)
        p = NormalDist().cdf((gap + tolerance) / se) if se > 0 else float(gap >= -tolerance)
        table.append(DegradationRow(segment, len(index), ref, ref_rows, value, lo, hi, p))
    adjusted = adjust([r.p_degraded for r in table], stats.correction)
    table = [
        DegradationRow(**{**r.__dict__, "p_degraded": p, "degraded": bool(p < (1 - level) / 2)})
        for r, p in zip(table, adjusted, strict=True)
    ]
    if any(r.degraded for r in table) or settings.force_retrain:
        return [], table
    saved = Check(
        "triage.no_degradation",
        "skip",
        f"the champion performs on the new labels as it did when it was gated ({name}, overall and "
        f"in {len(table) - 1} segments, tolerance {tolerance_words(config)}): retraining would not "
        "help, so it was skipped",
        diagnosis="no_degradation",
        advice=f"nothing to do; training on {rows.n} new rows and its compute were saved "
        "(set triage.force_retrain to retrain anyway)",
    )
    return [saved], table
