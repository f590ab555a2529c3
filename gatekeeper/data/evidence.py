"""The slice search's findings judged again in independent units (pure numpy).

The search (`gatekeeper.data.slices`) tests each slice's rows as if every row were independent
evidence. In time-ordered data, or data with many rows per entity, they are not: 43 rows from one
short stretch of time in which the world moved one way are one piece of evidence. Each finding that
survives the row-level test is therefore tested again (`gatekeeper.stats.units.unit_test`) with the
rows counted in units (entities, time blocks or runs of correlated rows, measured for each anomaly
on the reference) and against how far a batch-long window of the reference moves naturally there.
It is kept when that test, too, survives Holm's correction over every test the search made, and the
anomaly shows in at least `MIN_UNITS` separate units of the batch. Rows that are their own units
(shuffled rows, no time or entity column) keep the row-level result unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.data.checks import FeatureProfile
from gatekeeper.data.slice_axes import Axis, slice_mask
from gatekeeper.data.tolerance import ALPHA
from gatekeeper.metrics import Array
from gatekeeper.stats.in_units import only, unit_test
from gatekeeper.stats.inference import adjust
from gatekeeper.stats.units import MIN_UNITS, Layout, layout_of, paired_units, reference_length
from gatekeeper.vocabulary import Check

if TYPE_CHECKING:
    from gatekeeper.data.slices import SliceFinding, _Columns


def in_units(
    findings: list[SliceFinding],
    anomalies: _Columns,
    found: list[Axis],
    layouts: tuple[Layout, Layout],
    tests: int,
    alpha: float,
    stretch_rows: int,
) -> list[SliceFinding]:
    """The findings that still hold when their evidence is counted in independent units."""
    from gatekeeper.data.slices import UnitCount

    reference, batch = layouts
    index = {a: i for i, a in enumerate(anomalies.anomalies)}
    lengths: dict[int, int] = {}
    judged: list[tuple[SliceFinding, float]] = []
    for f in findings:
        k = index[f.anomaly]
        if k not in lengths:
            signal = np.zeros(reference.rows)
            signal[anomalies.reference[k]] = 1.0
            lengths[k] = reference_length(signal, reference, batch)
        inside = _hits(f.conditions, k, anomalies, found, "reference")
        ref_units, batch_units = paired_units(
            max(lengths[k], reference_length(inside, reference, batch, subset=True)), reference, batch
        )
        if ref_units.independent and batch_units.independent:
            judged.append((f, f.p_value))
            continue
        evidence = unit_test(
            _hits(f.conditions, k, anomalies, found, "batch"),
            batch_units,
            inside,
            ref_units,
            whole_reference=_hits((), k, anomalies, found, "reference", reference.rows),
            stretch_rows=stretch_rows,
            reference_order=reference.sequence,
        )
        if evidence.units_showing < MIN_UNITS:
            continue
        count = UnitCount(batch_units.kind, evidence.units, evidence.units_showing, evidence.natural_high)
        judged.append((replace(f, units=count), max(f.p_value, evidence.p_value)))
    adjusted = adjust([p for _, p in judged], "holm", family=tests)
    return [replace(f, p_value=p) for (f, p), q in zip(judged, adjusted, strict=True) if q < alpha]


def _hits(
    conditions: tuple[tuple[int, int, bool], ...],
    k: int,
    anomalies: _Columns,
    found: list[Axis],
    table: str,
    rows: int | None = None,
) -> Array:
    """Per row of the table: 1 where the slice shows the anomaly, 0 where it does not, nan outside
    the slice or outside the anomaly's denominator (a missing value cannot be out of range). No
    conditions: every one of the table's `rows` is in the slice."""
    columns = anomalies.batch if table == "batch" else anomalies.reference
    inside = slice_mask(conditions, found, table) if conditions else np.ones(rows or 0, dtype=bool)
    hits = np.where(inside, 0.0, np.nan)
    null = anomalies.null_of[k]
    if null != k:
        hits[columns[null]] = np.nan
    shows = columns[k]
    hits[shows[inside[shows]]] = 1.0
    return hits


def segment_findings_in_units(
    findings: list[Check],
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    config: GateConfig,
    profiles: dict[str, FeatureProfile],
) -> list[Check]:
    """The per-segment broken-feature findings (`gatekeeper.data.checks`) judged again with the rows
    counted in independent units, as the slice search's are: a finding stays when the segment's rate
    is beyond the reference's highest stretch (in the segment, and anywhere) and shows in
    `MIN_UNITS` units; its message and observed say in how many. Independent rows: unchanged."""
    from gatekeeper.data.segments import config_segments

    layouts = (
        layout_of(reference, config.cluster_column, config.time_column),
        layout_of(batch, config.cluster_column, config.time_column),
    )
    ref_segments, batch_segments = (
        dict(config_segments(reference, config)),
        dict(config_segments(batch, config)),
    )
    kept = []
    for f in findings:
        column = f.column or ""
        shows = _anomaly(f, profiles.get(column))
        if shows is None or f.segment not in batch_segments or f.segment not in ref_segments:
            kept.append(f)
            continue
        whole = shows(reference[column])
        inside_ref = only(whole, ref_segments[f.segment])
        length = max(reference_length(whole, *layouts), reference_length(inside_ref, *layouts, subset=True))
        ref_units, batch_units = paired_units(length, *layouts)
        if ref_units.independent and batch_units.independent:
            kept.append(f)
            continue
        evidence = unit_test(
            only(shows(batch[column]), batch_segments[f.segment]),
            batch_units,
            inside_ref,
            ref_units,
            whole_reference=whole,
            stretch_rows=config.data_checks.min_rows,
            reference_order=layouts[0].sequence,
        )
        if evidence.units_showing < MIN_UNITS or evidence.p_value >= ALPHA:
            continue
        observed = dict(f.observed) if isinstance(f.observed, dict) else {"batch": f.observed}
        observed |= {
            "unit": batch_units.kind,
            "units": evidence.units,
            "units_showing": evidence.units_showing,
        }
        kind = batch_units.kind + "s"
        message = f"{f.message} (showing in {evidence.units_showing} of {evidence.units} {kind})"
        kept.append(replace(f, message=message, observed=observed))
    return kept


def _anomaly(f: Check, profile: FeatureProfile | None) -> Callable[[pd.Series], Array] | None:
    """The finding's anomaly as a 0/1 (nan: not counted) column of a table's values, or None."""
    kind = f.check.removeprefix("data.")
    observed = f.observed if isinstance(f.observed, dict) else {}

    def null(values: pd.Series) -> Array:
        return np.asarray(values.isna().to_numpy(dtype=float))

    def present(values: pd.Series, shows: Array) -> Array:
        return np.asarray(np.where(values.isna().to_numpy(), np.nan, shows.astype(float)))

    if kind == "null_rate":
        return null
    if kind == "constant" and "value" in observed:
        return lambda v: present(v, (v.astype(str) == observed["value"]).to_numpy())
    if (
        kind == "out_of_range"
        and profile is not None
        and profile.low is not None
        and profile.high is not None
    ):
        low, high = profile.low, profile.high
        return lambda v: present(v, ((v < low) | (v > high)).fillna(False).to_numpy(dtype=bool))
    if kind == "new_categories" and profile is not None and profile.categories:
        categories = profile.categories
        return lambda v: present(v, (~v.astype(str).isin(categories)).to_numpy())
    return None
