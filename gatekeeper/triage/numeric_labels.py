"""Can a number's new labels be trusted? Labels that moved where the features did not (pure).

The champion, trained on the reference, predicts each row from its features alone. On the trusted
evaluation rows its residuals (label minus prediction) have a level in each segment. When the new
labels of one segment are halved, shifted, or written in other units, its residuals there move by
a lot, the champion's predictions there (the features) do not, and the labels still follow the
predictions (a scale or offset keeps their correlation). The world changing looks different: the
features move, or the relation weakens, or every segment moves together (a level shift the features
cannot explain, judged by recovery after training, not here).

A segment's labels are blocked (`labels.shift`, diagnosis `label_quality`) when, against the same
segment of the trusted rows:

- its residuals moved by at least `triage.max_label_shift` standard deviations of the target
  (relative: the same default means the same for prices and for temperatures), beyond how far the
  rest of the batch's moved;
- the champion's predictions there (the features' say) moved by less than the residuals did: the
  labels went where the features did not take them;
- the labels' correlation with the predictions held (at least `RELATION_KEPT` of the trusted rows');
- the move is beyond chance with the rows counted in independent units (entities, time blocks or
  correlated runs; `gatekeeper.stats.units`), Bonferroni over the segments judged.

Only judged when the champion explains the target on the trusted rows (R^2 at least
`triage.min_skill_r2`): a model that cannot predict cannot vouch for labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.data.checks import ADVICE_LABELS
from gatekeeper.data.segments import config_segments, drop_covered_intersections
from gatekeeper.stats.in_units import mean_difference, only
from gatekeeper.stats.rows import PairedRows
from gatekeeper.stats.units import layout_of, paired_units, reference_length
from gatekeeper.vocabulary import Check

RELATION_KEPT = 0.7  # the batch's label-prediction correlation, as a share of the trusted rows'
FEATURES_STILL = 1.0  # predictions that moved less than this share of the labels' move stood still
ALPHA = 0.001


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def numeric_label_checks(
    batch: pd.DataFrame,
    batch_rows: PairedRows,
    trusted: pd.DataFrame,
    trusted_rows: PairedRows,
    config: GateConfig,
    features: list[str] | None = None,
) -> list[Check]:
    """`labels.shift` findings per configured segment, then in slices nobody configured (each value
    of a feature in `features` with few values, each quartile of a number); the champion's predictions
    are in `rows.candidate`. Bonferroni over everything judged."""
    settings = config.triage
    y_t, p_t = trusted_rows.y, np.asarray(trusted_rows.candidate, dtype=float).reshape(-1)
    y_b, p_b = batch_rows.y, np.asarray(batch_rows.candidate, dtype=float).reshape(-1)
    relation = _correlation(p_t, y_t)
    if relation <= 0 or relation**2 < settings.min_skill_r2:
        return [
            Check(
                "labels.not_judged",
                "warn",
                f"new labels not checked against the champion's predictions: it explains R^2 "
                f"{max(relation, 0.0) ** 2:.2f} of the target on the trusted evaluation rows, below "
                f"triage.min_skill_r2={settings.min_skill_r2}; its residuals say nothing of the labels",
            )
        ]
    spread = float(np.std(y_t))
    if not np.isfinite(spread) or spread <= 0:
        return []
    e_t, e_b = y_t - p_t, y_b - p_b
    layouts = (
        layout_of(trusted, config.cluster_column, config.time_column),
        layout_of(batch, config.cluster_column, config.time_column),
    )
    length = reference_length(e_t, *layouts)
    trusted_units, batch_units = paired_units(length, *layouts)
    trusted_segments = dict(config_segments(trusted, config))
    judged = [
        (name, index, trusted_segments[name], False)
        for name, index in config_segments(batch, config)
        if name != "overall"
        and name in trusted_segments
        and len(index) >= settings.min_rows
        and len(trusted_segments[name]) >= settings.min_rows
    ]
    configured = {name for name, *_ in judged}
    judged += [
        (name, index, t_index, True)
        for name, index, t_index in unconfigured_slices(batch, trusted, features or [], config)
        if name not in configured
    ]
    whole_move = float(np.median(e_b) - np.median(e_t))
    out: list[Check] = []
    # the strongest finding first; the rows it explains are left out of every slice judged after it
    # (a fault in one store shows, diluted, in every slice that holds some of its rows)
    explained_b = np.zeros(len(e_b), dtype=bool)
    explained_t = np.zeros(len(e_t), dtype=bool)
    remaining = list(judged)
    while remaining and len(out) < 8:
        best = None
        for position, candidate in enumerate(remaining):
            name, index, t_index, discovered = candidate
            index, t_index = index[~explained_b[index]], t_index[~explained_t[t_index]]
            if len(index) < settings.min_rows or len(t_index) < settings.min_rows:
                continue
            rest = ~explained_b  # the batch's rows outside this slice and every finding so far
            rest[index] = False
            move = float(np.median(e_b[index]) - np.median(e_t[t_index]))
            rest_move = (
                float(np.median(e_b[rest]) - np.median(e_t[~explained_t])) if rest.any() else whole_move
            )
            beyond = move - rest_move
            predicted = float(np.median(p_b[index]) - np.median(p_t[t_index]))
            if abs(beyond) < settings.max_label_shift * spread or abs(predicted) >= FEATURES_STILL * abs(
                move
            ):
                continue
            if _correlation(p_b[index], y_b[index]) < RELATION_KEPT * _correlation(
                p_t[t_index], y_t[t_index]
            ):
                continue
            difference = mean_difference(only(e_b, index), batch_units, only(e_t, t_index), trusted_units)
            if difference.units < 3 or difference.p_value * max(len(judged), 1) >= ALPHA:
                continue
            if best is None or abs(beyond) > best[0]:
                moves = {
                    "label_move": move,
                    "rest_move": rest_move,
                    "prediction_move": predicted,
                    "target_sd": spread,
                }
                best = (abs(beyond), position, index, t_index, moves, difference.units)
        if best is None:
            break
        _, position, index, t_index, moves, units = best
        name, _, _, discovered = remaining.pop(position)
        out.append(_finding(name, len(index), moves, units, batch_units.kind, config, discovered))
        explained_b[index], explained_t[t_index] = True, True
    return drop_covered_intersections(out)[:8]


SLICE_BINS = 4  # a number with many values is cut at the trusted rows' quartiles
MAX_SLICE_VALUES = 30  # a column with more values than this (and not a number) is not sliced


def unconfigured_slices(
    batch: pd.DataFrame, trusted: pd.DataFrame, features: list[str], config: GateConfig
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Slices nobody configured, one condition each, with `triage.min_rows` rows on both sides: each
    value of a feature with few values, each quartile of a number (cut on the trusted rows)."""
    from gatekeeper.data.checks import is_numeric

    skip = {config.target, config.time_column, config.cluster_column, *config.id_columns}
    skip |= {c for columns in config.segment_columns for c in columns}
    minimum = config.triage.min_rows
    out = []
    for column in features:
        if column in skip or column not in batch.columns or column not in trusted.columns:
            continue
        b, t = batch[column], trusted[column]
        if is_numeric(b) and is_numeric(t) and t.nunique() > MAX_SLICE_VALUES:
            edges = np.unique(
                np.nanquantile(t.to_numpy(dtype=float), np.linspace(0, 1, SLICE_BINS + 1)[1:-1])
            )
            b_bins = np.searchsorted(edges, b.to_numpy(dtype=float), side="right")
            t_bins = np.searchsorted(edges, t.to_numpy(dtype=float), side="right")
            bounds = [-np.inf, *edges.tolist(), np.inf]
            for k in range(len(edges) + 1):
                index = np.flatnonzero((b_bins == k) & b.notna().to_numpy())
                t_index = np.flatnonzero((t_bins == k) & t.notna().to_numpy())
                if len(index) >= minimum and len(t_index) >= minimum:
                    out.append((f"{column} in [{bounds[k]:.4g}, {bounds[k + 1]:.4g})", index, t_index))
            continue
        if t.nunique() > MAX_SLICE_VALUES:
            continue
        b_text, t_text = b.astype(str).to_numpy(), t.astype(str).to_numpy()
        for value in pd.unique(t.dropna().astype(str)):
            index, t_index = np.flatnonzero(b_text == value), np.flatnonzero(t_text == value)
            if len(index) >= minimum and len(t_index) >= minimum:
                out.append((f"{column}={value}", index, t_index))
    return out


def _finding(
    name: str,
    rows: int,
    moves: dict[str, float],
    units: int,
    unit_kind: str,
    config: GateConfig,
    discovered: bool = False,
) -> Check:
    move, rest_move, predicted, spread = (
        moves[k] for k in ("label_move", "rest_move", "prediction_move", "target_sd")
    )
    counted = "" if unit_kind == "row" else f" in {units} {unit_kind}s"
    return Check(
        "labels.shift",
        "block",
        f"labels in {name} moved {move:+.4g} against the champion's predictions ({move / spread:+.2f} "
        f"standard deviations of the target; the rest of the batch {rest_move:+.4g}), while its "
        f"predictions there, made from the features, moved {predicted:+.4g} ({rows} rows{counted}): "
        "labels moved where the features did not (a unit change, a scale or offset in the labelling?)"
        + (" (found by the search of slices nobody configured)" if discovered else ""),
        segment=name,
        column=config.target,
        table="new_labels",
        observed={
            **moves,
            "rows": rows,
            "units": units,
            "unit": unit_kind,
        }
        | ({"found_by": "slice search"} if discovered else {}),
        threshold=config.triage.max_label_shift,
        diagnosis="label_quality",
        advice=ADVICE_LABELS,
    )
