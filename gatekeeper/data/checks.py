"""Per-segment data checks against the reference (the champion's training data), pure pandas.

A feature broken for a small group barely moves its overall null rate, so every check runs
overall and in every segment (one per value of each configured segment column, and each key
segment). A finding needs both a large effect (the `data_checks` floors) and a count beyond
what that many rows show by chance under the reference's rate (its 95% upper bound; a binomial
test at p < 0.001): a million-row batch is not "always drifting", and a 30-row segment is not
flagged on noise.

- broken feature (blocks; diagnosis `broken_feature`): the null rate rises by at least
  `max_null_increase`, the feature becomes constant (`constant_share`) where it varied (10 or
  more distinct reference values, as for the range check), values
  fall far outside the reference's range (widened on each side by `range_margin` times the
  larger of its width and its median's size, so a rate moving with the economy is drift, while a
  unit change or a sentinel like -999 is breakage) (`max_out_of_range_increase`), or unseen categories
  appear (`max_new_category_share`);

Drift (reported, not blocking) is measured in `gatekeeper.data.drift`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.config import DataChecks, GateConfig
from gatekeeper.data.segments import config_segments, drop_covered_intersections
from gatekeeper.data.tolerance import beyond_noise, rate_upper_bound
from gatekeeper.metrics import Array
from gatekeeper.stats.units import block_length, layout_of
from gatekeeper.vocabulary import Check

MIN_DISTINCT = 10  # range and constant checks need a feature that varies in the reference
SENTINEL_SCALE = 10.0  # a few-valued number beyond this many times its largest magnitude is a sentinel
ADVICE_BROKEN = (
    "fix the data pipeline for this feature; retraining on this batch would teach the model "
    "the breakage and will not help"
)
ADVICE_LABELS = (
    "check how this batch was labelled (the labelling tool, guidelines, the join to outcomes) "
    "before training on it; a model trained on wrong labels learns wrong relations"
)


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


@dataclass(frozen=True)
class FeatureProfile:
    """What the reference says about one feature in one segment."""

    n: int
    null_rate: float
    top_share: float
    distinct: int
    low: float | None = None
    high: float | None = None
    out_of_range_rate: float = 0.0
    categories: frozenset[str] = frozenset()
    longest_run: int = 0  # in time (file) order: the most consecutive rows holding one value


def longest_run(values: pd.Series, order: Array | None) -> int:
    """The most consecutive rows (in `order`) holding one value: a published rate that stays put for
    weeks is constant for a week's batch by nature. 0 without an order."""
    if order is None or not len(values):
        return 0
    codes = pd.factorize(values.iloc[order], use_na_sentinel=False)[0]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
    return int(np.diff(starts).max())


def feature_profile(values: pd.Series, range_margin: float, order: Array | None = None) -> FeatureProfile:
    """What the reference says about a feature. With `order` (its rows in time or file order), a
    number whose values are correlated along it (a published rate, a level that wanders) has its
    range widened on each side by twice how far the reference's later half went beyond its earlier
    half there: where values travel by nature, the batch (later still) may travel as far."""
    n = len(values)
    present = values.dropna()
    null_rate = 1 - len(present) / n if n else 0.0
    top_share = float(present.value_counts(normalize=True).iloc[0]) if len(present) else 1.0
    distinct = int(present.nunique())
    if is_numeric(values):
        if distinct < 2:  # one value: no spread to set a margin from
            return FeatureProfile(n, null_rate, top_share, distinct)
        numbers = present.to_numpy(dtype=float)
        if distinct < MIN_DISTINCT:
            # a code or a monthly indicator: next month's values may lie anywhere near these, so
            # only a value an order of magnitude beyond all of them (a sentinel like -999) is out
            bound = SENTINEL_SCALE * float(np.abs(numbers).max())
            return FeatureProfile(n, null_rate, top_share, distinct, -bound, bound)
        low, high = np.quantile(numbers, [0.001, 0.999])
        margin = range_margin * float(max(high - low, abs(float(np.median(numbers)))))  # inf: no bound
        down, up = _travel(values, order) if order is not None else (0.0, 0.0)
        # a number never below zero in the reference (an amount, an age) has no room below zero but
        # what it travelled: a negative value there is a sign flip or a sentinel like -999
        floor = -2 * down if low >= 0 else low - margin - 2 * down
        return FeatureProfile(n, null_rate, top_share, distinct, float(floor), float(high + margin + 2 * up))
    return FeatureProfile(
        n, null_rate, top_share, distinct, categories=frozenset(str(v) for v in present.unique())
    )


def reference_order(reference: pd.DataFrame, config: GateConfig) -> Array:
    """The reference's rows in time order (its `time_column`), else in the file's order."""
    return layout_of(reference, None, config.time_column).sequence


def _travel(values: pd.Series, order: Array) -> tuple[float, float]:
    """How far the later half of the ordered values went below and above the earlier half's range
    (0, 0 when consecutive values are not correlated: shuffled rows do not travel)."""
    ordered = values.to_numpy(dtype=float)[order]
    ordered = ordered[~np.isnan(ordered)]
    if len(ordered) < 2 * MIN_DISTINCT or block_length(ordered) == 1:
        return 0.0, 0.0
    early, late = np.array_split(ordered, 2)
    lo1, hi1 = np.quantile(early, [0.001, 0.999])
    lo2, hi2 = np.quantile(late, [0.001, 0.999])
    return max(0.0, float(lo1 - lo2)), max(0.0, float(hi2 - hi1))


def broken_feature_checks(
    reference: pd.DataFrame, batch: pd.DataFrame, features: list[str], config: GateConfig
) -> list[Check]:
    """Blocking findings where a feature looks broken in the batch, overall or in a segment."""
    rules = config.data_checks
    ref_segments = dict(config_segments(reference, config))
    features = [f for f in features if f in batch.columns and f in reference.columns]
    # values a feature may take come from the whole reference (a segment's few rows miss rare ones);
    # null and constant rates are compared segment by segment
    order = reference_order(reference, config)
    whole = {
        f: replace(
            feature_profile(reference[f], rules.range_margin, order),
            longest_run=longest_run(reference[f], order),
        )
        for f in features
    }
    findings: list[Check] = []
    for segment, index in config_segments(batch, config):
        ref_index = ref_segments.get(segment)
        if ref_index is None or len(index) < rules.min_rows or len(ref_index) < rules.min_rows:
            continue
        for feature in features:
            local = feature_profile(reference[feature].iloc[ref_index], rules.range_margin)
            ref = replace(
                local,
                low=whole[feature].low,
                high=whole[feature].high,
                categories=whole[feature].categories,
                longest_run=whole[feature].longest_run,
            )
            findings += _feature_findings(feature, segment, ref, batch[feature].iloc[index], rules)
    from gatekeeper.data.evidence import segment_findings_in_units

    return _drop_implied(segment_findings_in_units(findings, reference, batch, config, whole))


def _feature_findings(
    feature: str, segment: str, ref: FeatureProfile, values: pd.Series, rules: DataChecks
) -> list[Check]:
    out = []
    n = len(values)
    present = values.dropna()
    null_rate = 1 - len(present) / n

    def finding(kind: str, message: str, observed: Any, threshold: Any) -> Check:
        return Check(
            f"data.{kind}",
            "block",
            f"{feature} in {segment}: {message}",
            segment=segment,
            column=feature,
            table="new_labels",
            observed=observed,
            threshold=threshold,
            diagnosis="broken_feature",
            advice=ADVICE_BROKEN,
        )

    def real(count: int, rows: int, reference_rate: float) -> bool:
        """Beyond what `rows` rows show by chance when the reference's rate (seen in ref.n rows) holds."""
        return beyond_noise(count, rows, rate_upper_bound(round(reference_rate * ref.n), ref.n))

    if null_rate - ref.null_rate >= rules.max_null_increase and real(n - len(present), n, ref.null_rate):
        out.append(
            finding(
                "null_rate",
                f"null rate {ref.null_rate:.1%} -> {null_rate:.1%} ({n} rows)",
                {"reference": ref.null_rate, "batch": null_rate, "rows": n},
                rules.max_null_increase,
            )
        )
    if len(present) >= rules.min_rows:
        top_share = float(present.value_counts(normalize=True).iloc[0])
        top_count = round(top_share * len(present))
        if (
            ref.distinct >= MIN_DISTINCT
            and top_share >= rules.constant_share > ref.top_share
            and real(top_count, len(present), ref.top_share)
            and ref.longest_run < rules.constant_share * n  # the reference held one value this long
        ):
            top = present.value_counts().index[0]
            out.append(
                finding(
                    "constant",
                    f"constant: {top_share:.1%} of values are {top!r} (reference: the "
                    f"most common value has {ref.top_share:.1%})",
                    {"reference": ref.top_share, "batch": top_share, "value": str(top)},
                    rules.constant_share,
                )
            )
        if ref.low is not None and ref.high is not None and is_numeric(present):
            numbers = present.to_numpy(dtype=float)
            beyond = (numbers < ref.low) | (numbers > ref.high)
            outside = float(np.mean(beyond))
            if outside - ref.out_of_range_rate >= rules.max_out_of_range_increase and real(
                int(beyond.sum()), len(numbers), ref.out_of_range_rate
            ):
                out.append(
                    finding(
                        "out_of_range",
                        f"{outside:.1%} of values outside the reference range "
                        f"[{ref.low:.4g}, {ref.high:.4g}]",
                        {"batch": outside, "low": ref.low, "high": ref.high},
                        rules.max_out_of_range_increase,
                    )
                )
        if ref.categories and not is_numeric(present):
            text = present.astype(str)
            new = ~text.isin(ref.categories)
            share = float(new.mean())
            if share >= rules.max_new_category_share and real(int(new.sum()), len(text), 0.0):
                unseen = sorted(text[new].unique())[:5]
                out.append(
                    finding(
                        "new_categories",
                        f"{share:.1%} of values are categories the reference never had, e.g. {unseen}",
                        {"batch": share, "examples": unseen},
                        rules.max_new_category_share,
                    )
                )
    return out


def _drop_implied(findings: list[Check]) -> list[Check]:
    """Keep the findings that say where a breakage is: overall, then where it concentrates.

    When a feature broke overall, a segment is named only if it is clearly worse than the whole
    (its share at least 1.5 times the overall one): that is where the pipeline broke. An
    intersection whose parent segment is named adds nothing. At most five segments per feature.
    """
    by_kind: dict[tuple[str, str | None], list[Check]] = {}
    for f in findings:
        by_kind.setdefault((f.check, f.column), []).append(f)
    kept: list[Check] = []
    for group in by_kind.values():
        overall = [f for f in group if f.segment == "overall"]
        segments = [f for f in group if f.segment != "overall"]
        if overall and isinstance(overall[0].observed, dict) and "batch" in overall[0].observed:
            whole = overall[0].observed["batch"]
            segments = [
                f
                for f in segments
                if isinstance(f.observed, dict) and f.observed.get("batch", 0) >= 1.5 * whole
            ]
        kept += overall + drop_covered_intersections(segments)[:5]
    return kept


# ---------------------------------------------------------------- labels against the reference


def cohens_h(p1: float, p2: float) -> float:
    """Effect size of a change in a proportion: 2 asin(sqrt p2) - 2 asin(sqrt p1)."""
    return float(2 * np.arcsin(np.sqrt(p2)) - 2 * np.arcsin(np.sqrt(p1)))


def label_checks_against_reference(
    reference: pd.DataFrame, batch: pd.DataFrame, config: GateConfig
) -> list[Check]:
    """Label balance per segment (a warning: labels shift with the world too) and label coverage."""
    rules, target = config.data_checks, config.target
    out: list[Check] = []
    if config.task == "classification" and target in reference.columns and target in batch.columns:
        ref_segments = dict(config_segments(reference, config))
        classes = sorted(reference[target].dropna().unique().tolist(), key=str)
        for segment, index in config_segments(batch, config):
            ref_index = ref_segments.get(segment)
            if (
                ref_index is None
                or len(index) < rules.drift_min_rows
                or len(ref_index) < rules.drift_min_rows
            ):
                continue
            ref_share = reference[target].iloc[ref_index].value_counts(normalize=True)
            new_share = batch[target].iloc[index].value_counts(normalize=True)
            for label in classes[1:] if len(classes) == 2 else classes:
                r, b = float(ref_share.get(label, 0.0)), float(new_share.get(label, 0.0))
                h = cohens_h(r, b)
                if abs(h) >= rules.label_shift_h:
                    out.append(
                        Check(
                            "labels.balance",
                            "warn",
                            f"share of label {label!r} in {segment}: {r:.1%} in "
                            f"the reference -> {b:.1%} in the new labels (Cohen's h {h:+.2f})",
                            segment=segment,
                            column=target,
                            table="new_labels",
                            observed={"reference": r, "batch": b, "h": h},
                            threshold=rules.label_shift_h,
                        )
                    )
    column = rules.scored_column
    if column:
        if column not in batch.columns:
            out.append(
                Check(
                    "labels.coverage",
                    "block",
                    f"`data_checks.scored_column` {column!r} is not a column of the new labels",
                    column=column,
                    table="new_labels",
                )
            )
        else:
            scored = batch[column].astype("boolean").fillna(False).to_numpy(dtype=bool)
            share = float(1 - scored.mean()) if len(scored) else 0.0
            if share > rules.max_unscored_share:
                out.append(
                    Check(
                        "labels.coverage",
                        "block",
                        f"{share:.1%} of the new labels are for rows the batch "
                        f"says were never scored ({column} is false): a join or logging fault",
                        segment="overall",
                        column=column,
                        table="new_labels",
                        observed=share,
                        threshold=rules.max_unscored_share,
                        diagnosis="label_quality",
                        advice="check how labels are joined to scored rows",
                    )
                )
    return out
