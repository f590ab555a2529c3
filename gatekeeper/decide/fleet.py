"""Across a fleet: how many promotions may be wrong, controlled (pure: decisions in, decisions out).

Each model that compared a candidate with its champion tested one thing: is the candidate better
overall (its p-value of `improved`, the bootstrap's share of resamples with no gain, a normal tail
beyond the bootstrap's resolution). Alone, a model promotes at p < (1 - level) / 2. Over many models
some of those are luck; the fleet keeps the expected share of wrong promotions at most
`false_discovery_rate` with the Benjamini-Hochberg step-up over every model's test, its critical
values capped at the single model's level (so the fleet never promotes what the model alone would
not): a promotion whose p-value is above the step-up's threshold is rejected, saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gatekeeper.decide.decision import Decision, Reason
from gatekeeper.vocabulary import Check

CHECK = "fleet.false_discovery_rate"


@dataclass(frozen=True)
class FleetControl:
    """What the step-up found: the family, its threshold and the promotions it held back."""

    rate: float
    tests: int  # models whose candidate was compared with a champion
    threshold: float  # a promotion needs p <= threshold (0: none survives)
    surviving: int  # tests at or under the threshold
    held: tuple[str, ...]  # models whose promotion was rejected by the fleet's control

    def text(self) -> str:
        if not self.tests:
            return "no model compared a candidate with a champion: no promotion to control"
        held = f"; held back: {', '.join(self.held)}" if self.held else "; no promotion held back"
        return (
            f"false discovery rate {self.rate:g} across {self.tests} model test(s) of a gain "
            f"(Benjamini-Hochberg): a promotion needs p <= {self.threshold:.3g}, {self.surviving} test(s) "
            f"are{held}"
        )


def gain_p_value(decision: Decision) -> float | None:
    """The model's p-value of `improved` overall, when it compared a candidate with a champion."""
    overall = decision.overall
    if decision.champion_version is None or overall is None or overall.p_value_improved is None:
        return None
    return float(overall.p_value_improved)


def step_up_threshold(p_values: list[float], rate: float, cap: float) -> tuple[float, int]:
    """Benjamini-Hochberg's step-up with critical values min(i * rate / m, cap): the largest critical
    value some i-th smallest p-value is under (0.0 when none), and how many p-values are at or under it."""
    m = len(p_values)
    if m == 0:
        return 0.0, 0
    ordered = np.sort(np.asarray(p_values, dtype=float))
    critical = np.minimum(np.arange(1, m + 1) * rate / m, cap)
    passing = np.flatnonzero(ordered <= critical)
    if not len(passing):
        return 0.0, 0
    threshold = float(critical[passing[-1]])
    return threshold, int(np.count_nonzero(ordered <= threshold))


def control_false_discoveries(
    decisions: list[Decision | None], rate: float
) -> tuple[list[Decision | None], FleetControl]:
    """The fleet's decisions with promotions the step-up does not keep turned into rejections; the
    others unchanged (None: a model that reached no decision)."""
    tested = [(i, p) for i, d in enumerate(decisions) if d is not None and (p := gain_p_value(d)) is not None]
    levels = {d.confidence_level for d in decisions if d is not None}
    cap = (1 - min(levels)) / 2 if levels else rate
    threshold, surviving = step_up_threshold([p for _, p in tested], rate, cap)
    out = list(decisions)
    held = []
    for i, p in tested:
        decision = decisions[i]
        assert decision is not None
        if decision.decision == "promoted" and p > threshold:
            out[i] = _held_back(decision, p, threshold, rate, len(tested))
            held.append(decision.model_name)
    return out, FleetControl(rate, len(tested), threshold, surviving, tuple(held))


def _held_back(decision: Decision, p: float, threshold: float, rate: float, tests: int) -> Decision:
    check = Check(
        CHECK,
        "reject",
        f"the candidate's gain overall (p = {p:.3g}) does not survive the fleet's control of wrong "
        f"promotions: false discovery rate {rate:g} over {tests} model(s) needs p <= {threshold:.3g} "
        "(Benjamini-Hochberg); alone it would have been promoted; the champion stays",
        segment="overall",
        observed=p,
        threshold=threshold,
    )
    return replace(
        decision,
        decision="rejected",
        reasons=[Reason.of(check)],
        checks=[*decision.checks, check],
    )
