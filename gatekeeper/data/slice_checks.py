"""What the slice search found, as the decision reads it: one finding per fault, named by the
smallest slice that explains it (pure). The search itself is `gatekeeper.data.slices`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.config import DataChecks, GateConfig
from gatekeeper.data.checks import ADVICE_BROKEN, ADVICE_LABELS, MIN_DISTINCT, is_numeric, longest_run
from gatekeeper.data.slice_axes import Axis, slice_mask
from gatekeeper.data.slices import EXPLAINS, SliceFinding, floor, search
from gatekeeper.stats.units import Layout, layout_of
from gatekeeper.vocabulary import Check

VARIED = 0.9  # a category "varied" in the reference slice when its top value held at most this share


def slice_checks(
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    features: list[str],
    config: GateConfig,
    known: list[Check] | None = None,
    configured: set[str] | None = None,
) -> list[Check]:
    """Blocking `broken_feature` findings in slices nobody configured.

    `known` are the per-segment checks' findings: a fault already seen overall is named in a slice
    only where it concentrates (1.5 times the overall rate); `configured` are the configured
    segments' names, which those checks already cover.
    """
    rules = config.data_checks
    if not rules.search_slices or not len(batch) or not len(reference):
        return []
    skip = {config.target, config.time_column, *config.id_columns}
    columns = [c for c in batch.columns if c in reference.columns and c not in skip]
    features = [f for f in features if f in batch.columns and f in reference.columns]
    target = config.target if config.target in batch.columns and config.target in reference.columns else None
    layouts = (
        layout_of(reference, config.cluster_column, config.time_column),
        layout_of(batch, config.cluster_column, config.time_column),
    )
    result = search(reference, batch, features, columns, rules, target, layouts)
    runs = {  # each feature's longest run of one value in the reference's order
        f.anomaly.feature: longest_run(reference[f.anomaly.feature], layouts[0].sequence)
        for f in result.findings
        if f.anomaly.kind == "constant"
    }
    overall = {
        (c.check, c.column): c.observed.get("batch", 0.0)
        for c in known or []
        if c.segment == "overall" and isinstance(c.observed, dict)
    }
    kept = []
    for f in result.findings:
        if f.name in (configured or set()):
            continue
        if f.anomaly.kind == "constant" and not _became_constant(reference, f, result.axes):
            continue
        if f.anomaly.kind == "constant" and _constant_by_nature(f, result.axes, runs, layouts[1], rules):
            continue
        rate = overall.get((f"data.{f.anomaly.kind}", f.anomaly.feature))
        if rate is not None and f.batch_rate < 1.5 * rate:
            continue
        kept.append(f)
    # a value outside the range (a sentinel) that fills a slice is one fault, said as out of range
    outside = {(f.anomaly.feature, f.conditions) for f in kept if f.anomaly.kind == "out_of_range"}
    kept = [
        f for f in kept if f.anomaly.kind != "constant" or (f.anomaly.feature, f.conditions) not in outside
    ]
    # labels that changed where a feature broke are the broken feature's doing
    # (a number's labels out of range, constant or missing there are the labels' own fault)
    broken_slices = {f.conditions for f in kept if f.anomaly.feature != target}
    kept = [f for f in kept if f.anomaly.feature != target or f.conditions not in broken_slices]
    groups: dict[tuple[str, str], list[SliceFinding]] = {}
    for f in _not_cut_on_broken(kept, result.axes):
        groups.setdefault((f.anomaly.kind, f.anomaly.feature), []).append(f)
    checks = []
    for group in groups.values():
        total = max(result.excess.get(group[0].anomaly, 0.0), 1.0)
        best = max(group, key=lambda f: (_overlap(f, total), -len(f.conditions), -f.rows))
        if _overlap(best, total) >= EXPLAINS:
            chosen = [best]
        else:  # spread over several slices: the three that hold most of it, none inside another
            chosen = []
            for f in sorted(group, key=lambda f: (-f.excess, len(f.conditions))):
                if len(chosen) < 3 and not any(set(c.conditions) <= set(f.conditions) for c in chosen):
                    chosen.append(f)
        # labels all of one class in a slice is the fault itself: never left out for a wider slice
        # that explains more of the excess only by mixing in rows whose share differs by nature
        collapsed = [f for f in group if f.anomaly.kind == "label_rate" and f.batch_rate >= 1.0]
        if collapsed and not any(f.batch_rate >= 1.0 for f in chosen):
            chosen.insert(0, max(collapsed, key=lambda f: (f.excess, -len(f.conditions))))
        for f in chosen:
            aliases = _same_rows(f, group, result.axes)
            checks.append(
                _label_check(f, aliases, rules)
                if f.anomaly.kind in ("label_rate", "label_tail")
                else _check(f, aliases, rules, label=f.anomaly.feature == target)
            )
    return checks


def _overlap(f: SliceFinding, total: float) -> float:
    """How well a slice matches the fault's rows: the excess rows it holds over the union of the
    fault and the slice's rows that could change (those not already showing it in the reference's
    proportion; 1 when the slice is exactly the broken rows)."""
    excess = max(f.excess, 0.0)
    return excess / max(total + f.rows * (1 - f.reference_rate) - excess, 1.0)


def _constant_by_nature(
    f: SliceFinding, found: list[Axis], runs: dict[str, int], batch: Layout, rules: DataChecks
) -> bool:
    """The reference held one value of the feature (in time or file order) for at least as many
    consecutive rows as the slice's rows span in the batch: constant for that long by nature."""
    run = runs.get(f.anomaly.feature, 0)
    positions = np.flatnonzero(slice_mask(f.conditions, found)[batch.sequence])
    return len(positions) > 0 and run >= rules.constant_share * (positions[-1] - positions[0] + 1)


def _became_constant(reference: pd.DataFrame, finding: SliceFinding, found: list[Axis]) -> bool:
    """A slice became constant at a value where the reference varied there (numbers: `MIN_DISTINCT`
    values, as a monthly indicator is constant within a month by nature; categories: the top one
    under `VARIED` of the rows), or where the reference rarely had that value (a switch to it).
    """
    ref = reference[finding.anomaly.feature][slice_mask(finding.conditions, found, "reference")].dropna()
    if len(ref) == 0:
        return False
    if is_numeric(ref):
        return finding.reference_rate < 0.5 or int(ref.nunique()) >= MIN_DISTINCT
    # a category all one value where two conditions meet is usually who was sampled in that
    # corner (or the echo of a column broken elsewhere, whose slices lost rows)
    return len(finding.conditions) == 1 and (
        finding.reference_rate < 0.5 or float(ref.value_counts(normalize=True).iloc[0]) <= VARIED
    )


def _not_cut_on_broken(findings: list[SliceFinding], found: list[Axis]) -> list[SliceFinding]:
    """Drop findings in slices cut on a broken column: when F broke where C=v, F's bins lost C=v's
    rows, so C looks "constant" in them. Features are taken strongest fault first; a finding whose
    slice uses a column already found broken is such an echo."""
    strongest: dict[str, float] = {}
    for f in findings:
        strongest[f.anomaly.feature] = max(strongest.get(f.anomaly.feature, 0.0), f.excess)
    broken: set[str] = set()
    kept = []
    for feature in sorted(strongest, key=lambda k: -strongest[k]):
        own = [
            f
            for f in findings
            if f.anomaly.feature == feature and not {found[a].column for a, _, _ in f.conditions} & broken
        ]
        if own:
            broken.add(feature)
            kept += own
    return kept


def _same_rows(finding: SliceFinding, group: list[SliceFinding], found: list[Axis]) -> list[str]:
    mask = slice_mask(finding.conditions, found)
    return [
        other.name
        for other in group
        if other is not finding
        and other.rows == finding.rows
        and bool(np.array_equal(slice_mask(other.conditions, found), mask))
    ]


def _before_after(f: SliceFinding) -> str:
    """The rates, and how much independent evidence the batch's rate rests on."""
    text = f"{f.reference_rate:.1%} in the reference's rows there -> {f.batch_rate:.1%} ({f.rows} rows"
    if f.units is not None:
        kind = f.units.kind + ("es" if f.units.kind.endswith("h") else "s")
        text += f", showing in {f.units.showing} of {f.units.units} {kind}"
    return text + ")"


def _observed(f: SliceFinding) -> dict[str, Any]:
    observed: dict[str, Any] = {
        "reference": f.reference_rate,
        "batch": f.batch_rate,
        "rows": f.rows,
        "p_value": f.p_value,
        "found_by": "slice search",
    }
    if f.units is not None:
        observed |= {
            "unit": f.units.kind,
            "units": f.units.units,
            "units_showing": f.units.showing,
            "natural_high": f.units.natural_high,
        }
    return observed


def _check(f: SliceFinding, aliases: list[str], rules: DataChecks, label: bool = False) -> Check:
    """A broken feature in a slice; with `label`, the target itself (a number's labels out of the
    reference's range, all one value, or missing there): a label fault."""
    feature, where = f.anomaly.feature, f.name
    before_after = _before_after(f)
    text = {
        "null_rate": f"{feature} is missing where {where}: {before_after}",
        "out_of_range": f"{feature} falls outside the reference range where {where}: {before_after}",
        "new_categories": f"{feature} takes categories the reference never had where {where}: {before_after}",
        "constant": f"{feature} became constant ({f.anomaly.value!r}) where {where}: {before_after}",
    }[f.anomaly.kind]
    if label:
        text = f"the labels: {text} (other units, a fill value, or labels not joined there?)"
    if aliases:
        text += f"; the same rows as {', '.join(aliases[:3])}"
    observed = _observed(f)
    if f.anomaly.value is not None:
        observed["value"] = str(f.anomaly.value)
    return Check(
        f"labels.{f.anomaly.kind}" if label else f"data.{f.anomaly.kind}",
        "block",
        f"{text} (found by the search of slices nobody configured)",
        segment=where,
        column=feature,
        table="new_labels",
        observed=observed,
        threshold=floor(f.anomaly.kind, rules),
        diagnosis="label_quality" if label else "broken_feature",
        advice=ADVICE_LABELS if label else ADVICE_BROKEN,
    )


def _label_check(f: SliceFinding, aliases: list[str], rules: DataChecks) -> Check:
    """Labels all of one class in a slice whose features passed every check: a labelling
    rule that fills a default blocks (`label_quality`). A share that moved far without collapsing
    may be the world changing there too: a warning that says where to look."""
    label, where = f.anomaly.value, f.name
    collapsed = f.batch_rate >= 1.0
    before_after = _before_after(f)
    if f.anomaly.kind == "label_tail":  # a number's labels in the reference's lowest or highest tenth
        tenth = "lowest" if label == "low" else "highest"
        text = (
            f"labels of {f.anomaly.feature} in the reference's {tenth} tenth where {where}: {before_after}"
            + (
                ", every one of them: halved, scaled or shifted labels there?"
                if collapsed
                else ", while the rest of the batch kept its share; a labelling fault there, or the world "
                "changed there"
            )
        )
    elif collapsed:
        text = (
            f"labels collapsed to {label!r} where {where}: {before_after}, while the features there "
            "passed every check (a labelling rule that fills a default?)"
        )
    else:
        text = (
            f"share of label {label!r} far from the reference's where {where}: {before_after}, while "
            "the rest of the batch kept its share; a labelling fault there, or the world changed there"
        )
    if aliases:
        text += f"; the same rows as {', '.join(aliases[:3])}"
    return Check(
        "labels.slice",
        "block" if collapsed else "warn",
        f"{text} (found by the search of slices nobody configured)",
        segment=where,
        column=f.anomaly.feature,
        table="new_labels",
        observed=_observed(f) | {"label": str(label)},
        threshold=rules.constant_share if collapsed else rules.label_slice_h,
        diagnosis="label_quality" if collapsed else None,
        advice=ADVICE_LABELS if collapsed else None,
    )
