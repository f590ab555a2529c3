"""Great Expectations' `mostly` tolerances judged with the rows counted in independent units (pure).

A GX expectation with `mostly` fails when more than its tolerated share of rows is unexpected, and
the gate blocks on such a failure only when it is beyond sampling noise (`suites.judge_failure`, a
binomial test that counts rows). In time-ordered data, or data with many rows per entity, rows are
not independent: a sensor that is off for an afternoon by nature puts its nulls in one stretch, one
piece of evidence however many rows it holds. So each blocking `mostly` failure on the new labels is
judged again where the rows are dependent (`gatekeeper.stats.units`: the unexpected rows' own
correlation along time or file order, measured on the reference, or the entities):

- a tolerance a person declared (no role): the share of unexpected rows above it, over its
  cluster-robust standard error between the batch's units (a t test), beyond `tolerance.ALPHA`;
- an expectation that describes the reference (`meta.role: reference`, as starter suites mark them)
  against the reference's highest stretch instead (`stats.in_units.unit_test`, stretches as
  `in_units.batch_stretch` sizes them for the batch): a reference that went to 30% nulls
  for a week by nature does not make a batch week at 30% a fault; between entities, the entities'
  shares must also sit above that stretch's, one vote per entity (`entities_above`);
- and it must show in `MIN_UNITS` separate units.

A failure that does not hold so warns, and says in how many units it showed. Rows that are their own
units (shuffled, no time or entity column) keep the row-level judgement unchanged.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.data.tolerance import ALPHA
from gatekeeper.metrics import Array
from gatekeeper.stats.in_units import batch_stretch, only, per_unit, unit_test
from gatekeeper.stats.units import MIN_UNITS, Layout, Units, layout_of, paired_units, reference_length
from gatekeeper.vocabulary import Check

_NOT_NULL = "expect_column_values_to_not_be_null"
_BETWEEN = "expect_column_values_to_be_between"
_IN_SET = "expect_column_values_to_be_in_set"


def unexpected_rows(kind: str, kwargs: dict[str, object], values: pd.Series) -> Array | None:
    """Per row: 1 where the expectation finds the value unexpected, 0 where it does not, nan where GX
    does not count the row (a missing value is not out of range); None for kinds read nowhere here."""
    missing = values.isna().to_numpy()
    if kind == _NOT_NULL:
        return np.asarray(missing, dtype=float)
    if kind == _BETWEEN:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        bad = np.zeros(len(values), dtype=bool)
        with np.errstate(invalid="ignore"):
            if isinstance(low, int | float):
                bad |= numbers <= low if kwargs.get("strict_min") else numbers < low
            if isinstance(high, int | float):
                bad |= numbers >= high if kwargs.get("strict_max") else numbers > high
        return np.where(missing, np.nan, bad.astype(float))
    if kind == _IN_SET and isinstance(kwargs.get("value_set"), list):
        allowed = kwargs["value_set"]
        assert isinstance(allowed, list)
        bad = ~values.isin(allowed).to_numpy(dtype=bool)
        return np.where(missing, np.nan, bad.astype(float))
    return None


def tolerance_in_units(hits: Array, units: Units, tolerated: float) -> float:
    """One-sided p-value that the share of unexpected rows exceeds `tolerated`, its standard error
    from the spread between units (rows inside a unit are one piece of evidence; a t test with one
    degree of freedom fewer than the units holding rows)."""
    from scipy.stats import t as student

    counts, rows = per_unit(hits, units)
    used = rows > 0
    m, total = int(used.sum()), float(rows.sum())
    if m < 2 or total <= 0:
        return 1.0
    rate = float(counts.sum()) / total
    spread = float(np.sum((counts[used] - rate * rows[used]) ** 2)) * m / (m - 1) / total**2
    if spread <= 0:
        return 0.0 if rate > tolerated else 1.0
    return float(student.sf((rate - tolerated) / math.sqrt(spread), m - 1))


ENTITY_ROWS = 5  # an entity's share counts in `entities_above` once it has this many counted rows


def entities_above(hits: Array, units: Units, bar: float) -> float:
    """One-sided p-value that the batch's entities, each one vote (its share of unexpected rows, once
    it has `ENTITY_ROWS` counted rows), sit above `bar` on average: a t test over entities, so that a
    few large entities in a moment the world moved do not outvote the rest."""
    from scipy.stats import t as student

    counts, rows = per_unit(hits, units)
    shares = counts[rows >= ENTITY_ROWS] / rows[rows >= ENTITY_ROWS]
    if len(shares) < 2:
        return 1.0
    mean, spread = float(shares.mean()), float(shares.std(ddof=1)) / math.sqrt(len(shares))
    if spread <= 0:
        return 0.0 if mean > bar else 1.0
    return float(student.sf((mean - bar) / spread, len(shares) - 1))


def _showing(hits: Array, units: Units) -> tuple[int, int]:
    """How many units show an unexpected row, of the units holding counted rows."""
    shown, rows = per_unit(hits, units)
    return int(np.count_nonzero(shown)), int(np.count_nonzero(rows))


def expectations_in_units(
    checks: list[Check],
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    config: GateConfig,
    *,
    reference_rows: Array | None = None,
    batch_rows: Array | None = None,
) -> list[Check]:
    """The blocking `mostly` failures of a suite run on `batch` (or on its rows `batch_rows`, one
    segment's, with the same segment's rows of the reference in `reference_rows`) judged again with
    rows counted in independent units; the rest unchanged."""
    layouts: tuple[Layout, Layout] | None = None
    out = []
    for check in checks:
        judged = None
        if _judged_here(check, reference, batch):
            if layouts is None:
                layouts = (
                    layout_of(reference, config.cluster_column, config.time_column),
                    layout_of(batch, config.cluster_column, config.time_column),
                )
            judged = _in_units(check, reference, batch, config, layouts, reference_rows, batch_rows)
        out.append(judged or check)
    return out


def _judged_here(check: Check, reference: pd.DataFrame, batch: pd.DataFrame) -> bool:
    observed, threshold = check.observed, check.threshold
    return (
        check.check == "validation.expectation"
        and check.effect == "block"
        and isinstance(observed, dict)
        and isinstance(threshold, dict)
        and isinstance(threshold.get("mostly"), int | float)
        and isinstance(observed.get("unexpected_count"), int)
        and check.column is not None
        and check.column in batch.columns
        and check.column in reference.columns
    )


def _in_units(
    check: Check,
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    config: GateConfig,
    layouts: tuple[Layout, Layout],
    reference_rows: Array | None,
    batch_rows: Array | None,
) -> Check | None:
    """The check judged in units, or None when it keeps its row-level judgement."""
    observed, threshold = dict(check.observed), dict(check.threshold)
    column, kind = str(check.column), str(observed.get("expectation"))
    if column == config.cluster_column and kind == _IN_SET and observed.get("role") == "reference":
        message = (
            f"{check.message.removesuffix('.')} (an entity id, `cluster_column`: new entities arrive "
            "by nature; reported, not blocking)"
        )
        return replace(check, effect="warn", message=message)
    batch_hits = unexpected_rows(kind, threshold, batch[column])
    whole = unexpected_rows(kind, threshold, reference[column])
    if batch_hits is None or whole is None:
        return None
    batch_hits = only(batch_hits, batch_rows)
    if int(np.nansum(batch_hits)) != observed["unexpected_count"]:
        return None  # our reading of the expectation is not GX's: keep GX's judgement
    inside = only(whole, reference_rows)
    length = max(reference_length(whole, *layouts), reference_length(inside, *layouts, subset=True))
    ref_units, units = paired_units(length, *layouts)
    if ref_units.independent and units.independent:
        return None
    rows = int(np.count_nonzero(~np.isnan(batch_hits)))
    if observed.get("role") == "reference":  # the expectation describes the reference: its stretches
        evidence = unit_test(
            batch_hits,
            units,
            inside,
            ref_units,
            whole_reference=whole,
            stretch_rows=batch_stretch(rows, length, units, config.data_checks.min_rows),
            reference_order=layouts[0].sequence,
        )
        p_value, showing, count = evidence.p_value, evidence.units_showing, evidence.units
        if units.kind == "cluster":  # and entity by entity: above the natural high, counting entities
            p_value = max(p_value, entities_above(batch_hits, units, evidence.natural_high))
    else:  # a tolerance a person declared: counted in units
        p_value = tolerance_in_units(batch_hits, units, 1.0 - float(threshold["mostly"]))
        showing, count = _showing(batch_hits, units)
    kinds = units.kind + "s"
    where = f"showing in {showing} of {count} {kinds}"
    observed |= {"unit": units.kind, "units": count, "units_showing": showing}
    if showing >= MIN_UNITS and p_value < ALPHA:
        return replace(check, message=f"{check.message} ({where})", observed=observed)
    reason = (
        f"fewer than {MIN_UNITS} units"
        if showing < MIN_UNITS
        else "within what the rows' "
        + ("entities" if units.kind == "cluster" else "stretches of time or order")
        + f" show by nature (p={p_value:.2g} with rows counted in {kinds})"
    )
    message = f"{check.message.removesuffix('.')} ({where}: {reason}; reported, not blocking)"
    return replace(check, effect="warn", message=message, observed=observed)
