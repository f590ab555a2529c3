"""Can the new labels be trusted? Label noise and conflicting duplicates (pure).

Only judged when the champion has skill on the trusted rows (`triage.min_skill_auc`; a model
that cannot rank cannot vouch for labels): the champion (trained on the reference, so
independent of the batch) scores both the batch and the evaluation rows; confident-learning
counting flags rows whose label disagrees with a confident prediction of another class.
Comparing the batch's rate with the evaluation rows' rate (same model, same thresholds)
separates bad labels from a changed world: drift raises both, bad labels only the batch's.
Duplicated feature rows with conflicting labels count too. Either beyond its limit blocks with
diagnosis `label_quality`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.data.checks import ADVICE_LABELS
from gatekeeper.data.segments import config_segments, drop_covered_intersections
from gatekeeper.data.tolerance import ALPHA
from gatekeeper.findings import LabelNoiseRow
from gatekeeper.metrics import Array, estimate
from gatekeeper.stats.in_units import batch_stretch, only, unit_test
from gatekeeper.stats.rows import PairedRows
from gatekeeper.stats.units import MIN_UNITS, Layout, layout_of, paired_units, reference_length
from gatekeeper.vocabulary import Check, Effect


@dataclass(frozen=True)
class _Noise:
    flagged: Array  # bool per row
    confidence: Array  # the other class's probability, for ranking examples


def confident_mislabels(y: Array, proba: Array, thresholds: Array) -> _Noise:
    """Rows labelled i where some other class j reaches its threshold t_j (confident learning)."""
    other = proba.copy()
    other[np.arange(len(y)), y] = -1.0
    above = other >= thresholds[None, :]
    flagged = above.any(axis=1)
    return _Noise(np.asarray(flagged), np.asarray(np.where(above, other, 0.0).max(axis=1)))


def class_thresholds(y: Array, proba: Array) -> Array:
    """t_j: the mean probability of class j among rows labelled j (classes never seen: never flag)."""
    k = proba.shape[1]
    return np.array([proba[y == j, j].mean() if (y == j).any() else np.inf for j in range(k)])


def label_checks(
    batch: pd.DataFrame,
    batch_rows: PairedRows,
    trusted: pd.DataFrame,
    trusted_rows: PairedRows,
    features: list[str],
    config: GateConfig,
) -> tuple[list[Check], list[LabelNoiseRow]]:
    """Label noise (each segment of the batch against the same segment of the trusted evaluation rows)
    and conflicting duplicates."""
    settings = config.triage
    checks: list[Check] = []
    skill = estimate("roc_auc", trusted_rows.targets, trusted_rows.candidate).value
    if skill is None or skill < settings.min_skill_auc:
        note = Check(
            "labels.not_judged",
            "warn",
            f"label noise not judged: the champion's ROC AUC on the trusted "
            f"evaluation rows is {'undefined' if skill is None else f'{skill:.3f}'}, below "
            f"triage.min_skill_auc={settings.min_skill_auc}; its disagreement with labels says nothing",
        )
        return [note, *conflicting_duplicates(batch, trusted, features, config)], []
    thresholds = class_thresholds(trusted_rows.y, trusted_rows.candidate)
    trusted_flags = confident_mislabels(trusted_rows.y, trusted_rows.candidate, thresholds).flagged
    trusted_segments = {
        name: index for name, index in config_segments(trusted, config) if len(index) >= settings.min_rows
    }
    baselines = {name: float(trusted_flags[index].mean()) for name, index in trusted_segments.items()}

    @functools.cache
    def layouts() -> tuple[Layout, Layout]:
        return (
            layout_of(trusted, config.cluster_column, config.time_column),
            layout_of(batch, config.cluster_column, config.time_column),
        )

    noise = confident_mislabels(batch_rows.y, batch_rows.candidate, thresholds)
    table: list[LabelNoiseRow] = []
    for name, index in config_segments(batch, config):
        if len(index) < settings.min_rows or name not in baselines:
            continue
        rate, baseline = float(noise.flagged[index].mean()), baselines[name]
        excess = rate - baseline
        table.append(LabelNoiseRow(name, len(index), rate, baseline, excess))
        if excess >= settings.max_label_noise_increase and (
            name == "overall" or len(index) >= config.min_segment_rows
        ):
            worst = index[np.argsort(-noise.confidence[index])][:10]
            ids = _row_ids(batch, worst, config.id_columns)
            units = noise_in_units(
                noise.flagged, index, trusted_flags, trusted_segments[name], layouts(), settings.min_rows
            )
            effect: Effect = "block" if units is None or units.holds else "warn"
            checks.append(
                Check(
                    "labels.noise",
                    effect,
                    f"{rate:.1%} of labels in {name} disagree with a confident prediction of another class, "
                    f"against {baseline:.1%} in the same segment of the trusted evaluation rows "
                    f"({len(index)} rows{units.says if units else ''}); most suspect rows: {ids}",
                    segment=name,
                    column=config.target,
                    table="new_labels",
                    observed={"suspect_rate": rate, "baseline_rate": baseline, "rows": ids}
                    | (units.observed if units else {}),
                    threshold=settings.max_label_noise_increase,
                    diagnosis="label_quality" if effect == "block" else None,
                    advice=ADVICE_LABELS,
                )
            )
    checks = drop_covered_intersections(checks)[:8]
    return [*checks, *conflicting_duplicates(batch, trusted, features, config)], table


@dataclass(frozen=True)
class _NoiseInUnits:
    """A segment's label-noise excess judged with its rows counted in independent units."""

    holds: bool
    says: str  # for the message: in how many units, and why it does not block when it does not
    observed: dict[str, Any]


def noise_in_units(
    flagged: Array,
    index: Array,
    trusted_flagged: Array,
    trusted_index: Array,
    layouts: tuple[Layout, Layout],
    min_rows: int,
) -> _NoiseInUnits | None:
    """The segment's suspect-label rate against the trusted rows' highest stretch there
    (`in_units.batch_stretch`: confident disagreement comes in spells where the world moved for a
    while, and some entities' labels disagree with any model by nature), counted in units; it must show
    in `MIN_UNITS` units and be beyond chance at `tolerance.ALPHA`. None: the rows are independent
    (the row-level judgement stands)."""
    trusted = layouts[0]
    whole = trusted_flagged.astype(float)
    inside = only(whole, trusted_index)
    length = max(reference_length(whole, *layouts), reference_length(inside, *layouts, subset=True))
    trusted_units, units = paired_units(length, *layouts)
    if trusted_units.independent and units.independent:
        return None
    hits = only(flagged, index)
    evidence = unit_test(
        hits,
        units,
        inside,
        trusted_units,
        whole_reference=whole,
        stretch_rows=batch_stretch(len(index), length, units, min_rows),
        reference_order=trusted.sequence,
    )
    holds = evidence.units_showing >= MIN_UNITS and evidence.p_value < ALPHA
    kinds = units.kind + "s"
    says = f"; showing in {evidence.units_showing} of {evidence.units} {kinds}"
    if not holds:
        says += (
            f": within what the trusted rows' {kinds} show by nature (their highest stretch "
            f"{evidence.natural_high:.1%}, p={evidence.p_value:.2g}): reported, not blocking"
            if evidence.units_showing >= MIN_UNITS
            else f": fewer than {MIN_UNITS} units, reported, not blocking"
        )
    observed = {"unit": units.kind, "units": evidence.units, "units_showing": evidence.units_showing}
    return _NoiseInUnits(holds, says, observed | {"natural_high": evidence.natural_high})


def conflicting_duplicates(
    batch: pd.DataFrame, trusted: pd.DataFrame, features: list[str], config: GateConfig
) -> list[Check]:
    """Rows with identical features but different labels, beyond what the trusted rows make natural:
    judged without any model, so also when the champion is too weak to judge label noise.

    Where classes overlap by nature identical rows disagree, and the more rows a table has, the larger
    its groups of identical rows and the more of them disagree: shares of tables of different sizes
    cannot be compared. So the trusted rows give (1) how often two of their rows are identical, which
    says how many identical pairs a table of the batch's size has by chance, and (2) how often two
    identical rows disagree (shrunk toward two random rows' disagreement when they have few pairs).
    Pairs beyond the chance count are copies, which should agree. The batch's share of rows in
    conflicting groups is compared with the share those give, group size by group size; it blocks
    when the excess reaches `triage.max_conflicting_share` and three standard errors (the batch's
    and the trusted estimate's)."""
    groups = _duplicate_groups(batch, features, config.target)
    reference = _duplicate_groups(trusted, features, config.target)
    if groups is None or not groups.sizes.size:
        return []
    chance, spread = _natural_disagreement(reference, groups)
    observed, expected, error = groups.excess_over(chance, spread)
    excess = observed - expected
    if excess < config.triage.max_conflicting_share or excess <= 3 * error:
        return []
    return [
        Check(
            "labels.conflicting_duplicates",
            "block",
            f"{observed:.1%} of the batch are rows with identical features but different labels, where "
            f"{expected:.1%} would be by nature at its size (two identical rows disagree "
            f"{chance:.1%} of the time, from the trusted evaluation rows)",
            segment="overall",
            column=config.target,
            table="new_labels",
            observed=observed,
            threshold=config.triage.max_conflicting_share,
            diagnosis="label_quality",
            advice=ADVICE_LABELS,
        )
    ]


PRIOR_PAIRS = 10  # pseudo-pairs of the shrinkage toward two random rows' disagreement


@dataclass(frozen=True)
class _Groups:
    """A table's groups of identical feature rows (two rows or more): their sizes, how many of their
    row pairs disagree on the label, and whether they hold more than one label; and the chance that
    two random rows of the table disagree."""

    rows: int  # of the whole table
    sizes: Array
    disagreeing_pairs: Array
    conflicting: Array  # bool per group
    random_disagreement: float

    @property
    def pairs(self) -> float:
        return float((self.sizes * (self.sizes - 1) / 2).sum())

    def expected_share(self, chance: float) -> tuple[float, Array]:
        """The share of rows in conflicting groups when two identical rows disagree with probability
        `chance`, and each group's chance of agreeing: up to 0.5, two classes with that disagreement
        (shares p and 1 - p); above it (three classes or more), 1 / (1 - chance) equally likely ones.
        The two meet at 0.5."""
        chance = min(max(chance, 0.0), 1.0 - 1e-12)
        if chance <= 0.5:
            p = (1 - np.sqrt(1 - 2 * chance)) / 2
            agree = p**self.sizes + (1 - p) ** self.sizes
        else:
            agree = (1 - chance) ** (self.sizes - 1)
        return float((self.sizes * (1 - agree)).sum() / self.rows), agree

    def excess_over(self, chance: float, spread: float) -> tuple[float, float, float]:
        """Observed share of rows in conflicting groups, the expected share, and the standard error
        of their difference (the groups' own noise and the `spread` of `chance`)."""
        observed = float((self.sizes * self.conflicting).sum() / self.rows)
        expected, agree = self.expected_share(chance)
        step = 0.01
        slope = (self.expected_share(chance + step)[0] - self.expected_share(max(chance - step, 0.0))[0]) / (
            chance + step - max(chance - step, 0.0)
        )
        groups_var = float((self.sizes**2 * agree * (1 - agree)).sum()) / self.rows**2
        return observed, expected, float(np.sqrt(groups_var + (slope * spread) ** 2))


def _duplicate_groups(frame: pd.DataFrame, features: list[str], target: str) -> _Groups | None:
    cols = [f for f in features if f in frame.columns]
    if not cols or target not in frame.columns or len(frame) == 0:
        return None
    keys = pd.util.hash_pandas_object(frame[cols], index=False).to_numpy()
    labels = pd.factorize(frame[target], use_na_sentinel=False)[0]
    shares = np.bincount(labels) / len(labels)
    counts = pd.DataFrame({"key": keys, "label": labels}).value_counts()  # rows per (key, label)
    per_key = counts.groupby(level="key")
    sizes = per_key.sum().to_numpy()
    repeated = sizes > 1
    same_label_pairs = (counts * (counts - 1) // 2).groupby(level="key").sum().to_numpy()
    n = sizes[repeated].astype(float)
    return _Groups(
        len(frame),
        n,
        n * (n - 1) / 2 - same_label_pairs[repeated],
        per_key.size().to_numpy()[repeated] > 1,
        float(1 - (shares**2).sum()),
    )


def _natural_disagreement(reference: _Groups | None, batch: _Groups) -> tuple[float, float]:
    """The chance that two identical batch rows disagree by nature, and its standard error."""
    if reference is None:
        return 0.0, 0.0
    pairs = reference.pairs
    chance = (float(reference.disagreeing_pairs.sum()) + PRIOR_PAIRS * reference.random_disagreement) / (
        pairs + PRIOR_PAIRS
    )
    spread = float(np.sqrt(chance * (1 - chance) / (pairs + PRIOR_PAIRS)))
    # identical pairs a table of the batch's size has by chance (an upper bound from the trusted rows'
    # rate: three more than seen); the batch's pairs beyond it are copies, which should agree
    rate = (pairs + 3) / max(reference.rows * (reference.rows - 1) / 2, 1.0)
    by_chance = rate * batch.rows * (batch.rows - 1) / 2
    natural = min(1.0, by_chance / batch.pairs) if batch.pairs else 1.0
    return chance * natural, spread * natural


def _row_ids(frame: pd.DataFrame, index: Array, id_columns: list[str]) -> list[Any]:
    cols = [c for c in id_columns if c in frame.columns]
    if not cols:
        return [int(i) for i in index]
    values = frame.iloc[index][cols[0]].tolist()
    return [v.item() if hasattr(v, "item") else v for v in values]
