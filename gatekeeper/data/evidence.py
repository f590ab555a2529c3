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

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from gatekeeper.data.slice_axes import Axis, slice_mask
from gatekeeper.metrics import Array
from gatekeeper.stats.in_units import unit_test
from gatekeeper.stats.inference import adjust
from gatekeeper.stats.units import MIN_UNITS, Layout, paired_units, reference_length

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
