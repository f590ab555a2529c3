"""The report a reviewer reads: the verdict and the evidence table first, one line per finding
(grouped, with all its evidence), then warnings with their segment; intervals and statuses that seem
to disagree are explained; the Prefect table is rounded to what the interval supports."""

from __future__ import annotations

from dataclasses import replace

from gatekeeper.decide.policy import decide
from gatekeeper.report.markdown import render_markdown, rounded_segment_rows
from gatekeeper.vocabulary import Check
from tests.builders import evidence, make_config


def _broken_feature_everywhere() -> list[Check]:
    where = ("overall", "browser=chrome", "browser=firefox")
    found = [
        Check(
            "data.null_rate",
            "block",
            f"amount in {s}: 40% nulls",
            segment=s,
            column="amount",
            table="new_labels",
        )
        for s in where
    ]
    found.append(
        Check(
            "validation.expectation", "block", "amount not null failed", column="amount", table="new_labels"
        )
    )
    found.append(Check("data.drift", "warn", "country drifted", segment="browser=chrome", column="country"))
    return found


def test_one_finding_one_line_then_the_evidence_then_warnings_with_their_segment() -> None:
    decision = decide(evidence(checks=_broken_feature_everywhere()), make_config())
    assert decision.decision == "blocked"
    md = render_markdown(decision)
    why = md[md.index("## Why") : md.index("## Warnings")]
    finding = [line for line in why.splitlines() if line.startswith("- ")]
    assert len(finding) == 1, finding  # four reasons about `amount`: one finding
    assert "also:" in finding[0]
    assert "[browser=firefox]" in finding[0]
    assert "`validation.expectation`" in finding[0]
    warnings = md[md.index("## Warnings") :]
    assert "`data.drift` [browser=chrome]: country drifted" in warnings


def test_an_interval_that_excludes_zero_under_a_no_change_status_is_explained() -> None:
    decision = decide(evidence(), make_config())
    row = replace(decision.segments[0], status="no_change", ci_low=0.001, ci_high=0.02, rows_needed=None)
    improved = replace(
        decision.segments[0], segment="browser=safari", status="improved", rows_needed=9_800_000
    )
    md = render_markdown(replace(decision, segments=[row, improved]))
    assert "no_change †" in md
    assert "did not survive the correction" in md
    assert "9800000" not in md  # rows needed is shown only where there is no verdict yet
    assert md.index("## Why") < md.index("## Evidence")


def test_the_prefect_table_is_rounded_to_what_its_interval_supports() -> None:
    decision = decide(evidence(), make_config())
    row = replace(
        decision.segments[0],
        champion=0.812345678901,
        candidate=0.834567890123,
        delta=0.022222211222,
        ci_low=0.0123456789,
        ci_high=0.0312345678,
        churn=0.0512345,
    )
    [rounded] = [
        r for r in rounded_segment_rows(replace(decision, segments=[row])) if r["segment"] == row.segment
    ]
    assert rounded["delta"] == 0.022  # width 0.019: two significant digits -> three decimals
    assert rounded["ci_low"] == 0.012
    assert rounded["champion"] == 0.812
    assert rounded["churn"] == 0.051
