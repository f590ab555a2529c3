"""The gate's words, typed: open this module first.

A gate run ends in one **decision**. It gets there by aggregating **checks**: every finding
(a failed expectation, a broken feature, a key segment that regressed, a triage finding) is
one `Check` whose single `effect` says what it does to the decision. Some findings carry a
**diagnosis**: the reason retraining will not help, with advice a person can act on. Each
compared **segment** ends with one **status** from its paired bootstrap interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

# ---------------------------------------------------------------- decisions

DecisionValue = Literal["promoted", "rejected", "blocked", "bootstrap", "not_retrained", "needs_review"]
"""promoted: the candidate is the new champion; bootstrap: the first champion was registered;
rejected: judged worse, the champion stays; blocked: the gate could not judge (bad data, missing
evidence), the champion stays; not_retrained: triage found nothing retraining would fix;
needs_review: a person must approve or reject the candidate."""

DECISIONS: tuple[DecisionValue, ...] = get_args(DecisionValue)
STATE_NAMES: dict[DecisionValue, str] = {  # a gate run's final state in Prefect: Completed, named so
    "promoted": "Promoted",
    "rejected": "Rejected",
    "blocked": "Blocked",
    "bootstrap": "Bootstrapped",
    "not_retrained": "NotRetrained",
    "needs_review": "NeedsReview",
}
PROMOTING: frozenset[DecisionValue] = frozenset({"promoted", "bootstrap"})

# ---------------------------------------------------------------- what a check does

Effect = Literal["none", "warn", "block", "reject", "review", "skip"]
"""none: the check holds; warn: reported, the decision goes on; block: the gate cannot judge
(-> blocked); reject: the candidate was judged worse (-> rejected); review: a person decides
(-> needs_review); skip: retraining would not help, so it is not done (-> not_retrained)."""

EFFECTS: tuple[Effect, ...] = get_args(Effect)
STOPPING: frozenset[Effect] = frozenset({"block", "reject", "review", "skip"})

Action = Literal["block", "review", "pass"]
"""What the config chooses for a finding it can tolerate: pass means report it as a warning."""


def effect_of(action: Action) -> Effect:
    """The effect of a configured action: `pass` warns, the others stop the promotion."""
    return "warn" if action == "pass" else action


# ---------------------------------------------------------------- diagnoses

DiagnosisKind = Literal[
    "broken_feature",
    "label_quality",
    "no_degradation",
    "concept_drift_beyond_retraining",
    "small_segment_needs_data",
]
"""Why retraining will not help (or was not needed): broken_feature (fix the pipeline first);
label_quality (the new labels cannot be trusted); no_degradation (the champion is as good as
when it was gated); concept_drift_beyond_retraining (a retrained model cannot win back what
was lost); small_segment_needs_data (a key segment has too few rows to judge)."""

DIAGNOSES: tuple[DiagnosisKind, ...] = get_args(DiagnosisKind)

# ---------------------------------------------------------------- segment statuses

SegmentStatus = Literal[
    "improved",
    "no_change",
    "inconclusive",
    "at_risk",
    "regressed",
    "insufficient_data",
    "undefined",
    "baseline",
]
"""A compared segment's verdict from its paired interval (see `gatekeeper.decide.judge`)."""

NOT_JUDGED: frozenset[SegmentStatus] = frozenset({"insufficient_data", "undefined"})

# ---------------------------------------------------------------- data

Task = Literal["classification", "regression"]
TableName = Literal["train", "new_labels", "evaluation"]
TABLES: tuple[TableName, ...] = get_args(TableName)


# ---------------------------------------------------------------- the check


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, where, what was seen against what threshold, and its effect."""

    check: str
    effect: Effect
    message: str
    segment: str | None = None
    column: str | None = None
    table: TableName | None = None
    observed: Any = None
    threshold: Any = None
    diagnosis: DiagnosisKind | None = None
    advice: str | None = None

    def __post_init__(self) -> None:
        if self.effect not in EFFECTS:
            raise ValueError(f"Check.effect must be one of {EFFECTS}; got {self.effect!r}")

    @property
    def holds(self) -> bool:
        """The check passed: it changes nothing."""
        return self.effect == "none"

    @property
    def stops(self) -> bool:
        """The finding stops a promotion (block, reject, review or skip)."""
        return self.effect in STOPPING


def judgement(check: str, ok: bool, message: str, *, effect: Effect = "reject", **where: Any) -> Check:
    """A check that holds when `ok` and otherwise has `effect`."""
    return Check(check, "none" if ok else effect, message, **where)
