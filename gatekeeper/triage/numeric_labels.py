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
  correlated runs as long as the whole table's residuals or the segment's own stay correlated;
  `gatekeeper.stats.units`), a t test over the units of the segment's move beyond the rest's,
  Bonferroni over the configured segments at 0.001, and apart over the slices the search found at
  `data_checks.slice_alpha`.

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
from gatekeeper.stats.units import Units, layout_of, paired_units, reference_length
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
    are in `rows.candidate`."""
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
    whole_length = reference_length(e_t, *layouts)

    lengths: dict[str, int] = {}

    def units_of(name: str, t_index: np.ndarray) -> tuple[Units, Units]:
        """The units a slice's residuals are counted in: as long as the whole table's correlation or
        the slice's own among its rows (a regime may move one slice's residuals alone), longer wins."""
        if name not in lengths:
            own = reference_length(only(e_t, t_index), *layouts, subset=True)
            lengths[name] = max(whole_length, own)
        return paired_units(lengths[name], *layouts)

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
    # two families, each Bonferroni: the segments someone configured (at ALPHA), and the slices the
    # search found (at data_checks.slice_alpha, as the data checks' search; a search of many slices
    # does not dilute a configured segment's evidence)
    family = {False: max(len(configured), 1), True: max(len(judged) - len(configured), 1)}
    alpha = {False: ALPHA, True: config.data_checks.slice_alpha}
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
            trusted_units, slice_units = units_of(name, t_index)
            # the slice's move beyond the rest's (the test of what `beyond` measures: a level every
            # slice shares is not this slice's labels)
            shifted = only(e_b - rest_move, index)
            difference = mean_difference(shifted, slice_units, only(e_t, t_index), trusted_units)
            if difference.units < 2 or difference.freedom < 3:
                continue
            if difference.p_value * family[discovered] >= alpha[discovered]:
                continue
            if best is None or abs(beyond) > best[0]:
                moves = {
                    "label_move": move,
                    "rest_move": rest_move,
                    "prediction_move": predicted,
                    "target_sd": spread,
                }
                best = (abs(beyond), position, index, t_index, moves, difference.units, slice_units.kind)
        if best is None:
            break
        _, position, index, t_index, moves, units, kind = best
        name, _, _, discovered = remaining.pop(position)
        out.append(_finding(name, len(index), moves, units, kind, config, discovered))
        explained_b[index], explained_t[t_index] = True, True
    return drop_covered_intersections(out)[:8]


def unconfigured_slices(
    batch: pd.DataFrame, trusted: pd.DataFrame, features: list[str], config: GateConfig
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Slices nobody configured, one condition each, cut as the data checks' slice search cuts them
    (`gatekeeper.data.slice_axes`: each frequent value, each of `data_checks.slice_bins` quantile
    bins of a number on the trusted rows, "is missing"), with `triage.min_rows` rows on both sides;
    none when `data_checks.search_slices` is off."""
    from gatekeeper.data.slice_axes import axes

    if not config.data_checks.search_slices:
        return []
    skip = {config.target, config.time_column, config.cluster_column, *config.id_columns}
    skip |= {c for columns in config.segment_columns for c in columns}
    columns = [c for c in features if c not in skip and c in batch.columns and c in trusted.columns]
    minimum = config.triage.min_rows
    out = []
    for axis in axes(trusted, batch, columns, minimum, config.data_checks.slice_bins):
        for code, label in enumerate(axis.labels):
            index, t_index = np.flatnonzero(axis.batch == code), np.flatnonzero(axis.reference == code)
            if len(index) >= minimum and len(t_index) >= minimum:
                out.append((label, index, t_index))
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
