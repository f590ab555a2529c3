"""Typed records that the stages produce and `decision.json` carries (no logic here).

data/ measures drift; compare/ discovers subgroups; triage/ measures degradation and label
noise against the champion's reference; a reviewer answers. Each is one frozen record, so the
decision is typed end to end and `gatekeeper.decide.decision` serialises all of it in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ReviewOutcome = Literal["approved", "rejected", "pending"]


@dataclass(frozen=True)
class DriftResult:
    """Population stability index of one feature in one segment, new labels against the reference."""

    feature: str
    segment: str
    psi: float  # population stability index
    test: str  # "ks" (numbers) or "chi2" (categories)
    statistic: float
    p_value: float
    reference_rows: int
    batch_rows: int
    drifted: bool
    # rows tied by time, order or entity: the PSI all but 5% of the reference's stretches as long as
    # the batch stayed below against the whole reference (drift below it is the world's own movement), and
    # what one independent unit was for the p-value; None / "row": rows independent
    natural_psi: float | None = None
    unit: str = "row"


@dataclass(frozen=True)
class DiscoveredRegression:
    """A subgroup nobody configured where the candidate looks worse, measured on held-out rows."""

    subgroup: str
    conditions: list[str]
    n: int
    n_search: int
    share: float
    metric: str
    champion: float | None
    candidate: float | None
    delta: float
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    confirmed: bool


@dataclass(frozen=True)
class ChampionReference:
    """What the champion scored on its own evaluation rows when it was gated (from its decision)."""

    metric: str
    overall: float
    segments: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class DegradationRow:
    """The champion on the new labels of one segment, against its reference there."""

    segment: str
    n: int
    reference: float
    reference_rows: int
    batch: float
    ci_low: float
    ci_high: float
    p_degraded: float
    degraded: bool = False


@dataclass(frozen=True)
class NewRowsTest:
    """Are the new labels worth more than reference rows? The learning curve counts rows like the
    reference's; new labels from a changed world (a new relation, a later time, a region the
    reference lacks) carry what more reference rows cannot, and the curve does not see it. One more
    fit, of the reference's size with `swapped` new rows in place of as many reference rows, scored
    on the same evaluation rows as the curve's fit on the whole reference, and as the champion: a
    champion that already learned from these labels (the same batch gated again, or an earlier one
    like it) leaves them nothing to add. Gains are oriented (positive: better) in the primary
    metric's units."""

    swapped: int
    reference_score: float  # the curve's fit on every reference row (the metric's own sign)
    swapped_score: float
    difference: float  # oriented: the swapped fit's gain over the reference fit
    noise: float  # root mean square difference between the curve's two fits of one size
    bar: float  # what `difference` had to exceed: the threshold, and t(95%) x noise
    worth_more: bool  # above the bar against the reference fit, and against the champion if scored
    champion_score: float | None = None  # the champion on the same rows (it may know these labels)
    over_champion: float | None = None  # oriented: the swapped fit's gain over the champion

    def summary(self) -> str:
        champion = (
            "" if self.over_champion is None else f" and {self.over_champion:+.4f} against the champion"
        )
        return (
            f"a fit with {self.swapped} new rows in place of as many reference rows scores "
            f"{self.difference:+.4f} against the fit on the whole reference{champion} (bar {self.bar:.4f}: "
            f"the threshold, or 95% of the fits' own noise {self.noise:.4f})"
        )


@dataclass(frozen=True)
class LearningCurve:
    """What the new labels are expected to be worth: the configured pipeline fitted on nested
    fractions of the reference rows, scored on the evaluation rows, extrapolated to reference + new
    rows. Gains are oriented (positive: better) in the primary metric's units."""

    metric: str
    sizes: list[int]
    scores: list[float]  # the metric on the evaluation rows, one per fit
    reference_rows: int
    new_rows: int
    expected_gain: float
    ci_low: float
    ci_high: float
    threshold: float  # min_improvement + triage.retrain_cost
    worth_retraining: bool  # the curve's gain reaches the threshold, or the new rows are worth more
    basis: str
    new_rows_test: NewRowsTest | None = None  # run when the curve alone expects too little

    def summary(self) -> str:
        """ "expected roc_auc gain from 30000 new rows: +0.0120 [+0.0060, +0.0190]"."""
        return (
            f"expected {self.metric} gain from {self.new_rows} new rows: {self.expected_gain:+.4f} "
            f"[{self.ci_low:+.4f}, {self.ci_high:+.4f}]"
        )


@dataclass(frozen=True)
class LabelNoiseRow:
    """Share of labels that disagree with a confident prediction, batch against trusted rows."""

    segment: str
    n: int
    suspect_rate: float
    baseline_rate: float
    excess: float


@dataclass(frozen=True)
class TriageFindings:
    """What triage measured before training (empty when it did not run)."""

    degradation: list[DegradationRow] = field(default_factory=list)
    labels: list[LabelNoiseRow] = field(default_factory=list)
    reference: ChampionReference | None = None
    value: LearningCurve | None = None  # measured only when the champion had not degraded


@dataclass(frozen=True)
class RelationChange:
    """A feature's permutation importance for champion and candidate on the same rows."""

    feature: str
    champion: float
    candidate: float
    used_by_candidate: bool = True  # False: the candidate's trainer dropped it (importance 0 by absence)

    @property
    def change(self) -> float:
        return self.candidate - self.champion


@dataclass(frozen=True)
class Review:
    """A person's answer to a `needs_review` decision."""

    outcome: ReviewOutcome
    reviewer: str = ""
    comment: str = ""
    at: str = ""

    def as_tags(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reviewer": self.reviewer, "comment": self.comment, "at": self.at}


@dataclass(frozen=True)
class ClassRecall:
    """One class's recall (the share of its rows predicted as it) for champion and candidate on the same
    rows, with the paired difference's normal interval (rows of the class are the unit)."""

    label: str
    n: int
    candidate: float
    champion: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    @property
    def clear(self) -> bool:
        """The interval excludes zero: the change is beyond noise."""
        return self.ci_low is not None and self.ci_high is not None and (self.ci_low > 0 or self.ci_high < 0)
